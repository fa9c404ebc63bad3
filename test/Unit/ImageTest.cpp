// Images: text drawing with the built-in font, heat map layout and shading, and the PNG file format
// (signature, chunk CRCs against known values, and the pixels, decompressed with zlib).
#include "attn/Runtime/Image.h"

#include "TestUtil.h"

#include <zlib.h>

using namespace attn::rt;
using attn::test::readBytes;
using attn::test::TempDir;

namespace {

uint32_t bigEndian(const std::string &bytes, size_t at) {
  return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
         (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
}

TEST(Image, DrawsGlyphsPixelByPixel) {
  Image image(20, 10, {255, 255, 255});
  EXPECT_EQ(image.text(0, 0, "I", {0, 0, 0}), 5);
  // 'I' is .###. on its top row and ..#.. below it.
  EXPECT_EQ(image.at(0, 0).r, 255);
  EXPECT_EQ(image.at(1, 0).r, 0);
  EXPECT_EQ(image.at(2, 1).r, 0);
  EXPECT_EQ(image.at(1, 1).r, 255);
  EXPECT_EQ(Image::textWidth("abc", 2), (3 * 6 - 1) * 2);
  image.text(15, 8, "\x01", {0, 0, 0}); // drawn as '?', clipped at the border without harm
}

TEST(Image, HeatMapShadesRelativeToTheLargestWeight) {
  Image map = renderHeatMap({0.0f, 0.5f, 0.25f, 0.25f}, 2, 2, {"x", "y"}, {"a", "b"}, "t");
  // The largest weight (0.5) is the darkest blue; the zero weight is a white cell.
  bool sawDarkest = false, sawWhiteCell = false;
  for (int y = 0; y < map.height(); ++y)
    for (int x = 0; x < map.width(); ++x) {
      Rgb p = map.at(x, y);
      sawDarkest |= p.r == 8 && p.g == 48 && p.b == 107;
      sawWhiteCell |= p.r == 255 && p.g == 255 && p.b == 255;
    }
  EXPECT_TRUE(sawDarkest);
  EXPECT_TRUE(sawWhiteCell);
}

TEST(Png, WritesAValidFile) {
  TempDir dir;
  Image image(3, 2, {10, 20, 30});
  image.fill(2, 1, 1, 1, {255, 0, 0});
  ASSERT_TRUE(writePng(dir.file("a.png"), image));
  std::string png = readBytes(dir.file("a.png"));
  ASSERT_GE(png.size(), 8u + 25 + 12);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(bigEndian(png, 8), 13u); // IHDR length
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(bigEndian(png, 16), 3u);
  EXPECT_EQ(bigEndian(png, 20), 2u);
  // The IEND chunk and its well-known CRC.
  EXPECT_EQ(png.substr(png.size() - 8, 4), "IEND");
  EXPECT_EQ(bigEndian(png, png.size() - 4), 0xAE426082u);
  // IDAT: a zlib stream of 2 rows × (filter byte + 3 pixels × 3 bytes), the chunk's CRC after it.
  size_t idat = 8 + 25;
  uint32_t idatSize = bigEndian(png, idat);
  EXPECT_EQ(png.substr(idat + 4, 4), "IDAT");
  EXPECT_EQ(bigEndian(png, idat + 8 + idatSize),
            crc32_z(0, reinterpret_cast<const Bytef *>(png.data()) + idat + 4, 4 + idatSize));
  std::string z = png.substr(idat + 8, idatSize);
  std::string rows(21, '\xff'); // one byte more than expected, to catch a stream that holds more
  uLongf rowsSize = rows.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef *>(rows.data()), &rowsSize,
                       reinterpret_cast<const Bytef *>(z.data()), z.size()),
            Z_OK);
  ASSERT_EQ(rowsSize, 20u);
  EXPECT_EQ(rows[0], 0);  // filter of row 0
  EXPECT_EQ(rows[10], 0); // filter of row 1
  EXPECT_EQ(uint8_t(rows[1]), 10);
  EXPECT_EQ(uint8_t(rows[2]), 20);
  EXPECT_EQ(uint8_t(rows[3]), 30);
  EXPECT_EQ(uint8_t(rows[10 + 1 + 6]), 255); // row 1, pixel 2, red
  EXPECT_EQ(uint8_t(rows[10 + 1 + 7]), 0);
}

TEST(Png, UnwritablePathIsAnError) {
  Image image(1, 1, {0, 0, 0});
  Status s = writePng("/nonexistent-dir/x.png", image);
  EXPECT_FALSE(s);
}

} // namespace
