// Images: a 5×7 bitmap font, heat maps and a PNG writer (zlib deflates the pixels and checksums chunks).
#include "attn/Runtime/Image.h"

#include "attn/Runtime/File.h"

#include <algorithm>
#include <cmath>

#include <zlib.h>

namespace attn::rt {

namespace {

constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kAdvance = 6;

/// Printable ASCII from ' ' to '~': seven rows of five pixels each, the top row first, bit 4 the leftmost.
constexpr uint8_t kFont[95][kGlyphHeight] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, // ' '
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, // '!'
    {0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00}, // '"'
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}, // '#'
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04}, // '$'
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, // '%'
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d}, // '&'
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}, // '\''
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, // '('
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, // ')'
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00}, // '*'
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}, // '+'
    {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}, // ','
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}, // '-'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}, // '.'
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, // '/'
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, // '0'
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}, // '1'
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, // '2'
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}, // '3'
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, // '4'
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}, // '5'
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, // '6'
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, // '7'
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, // '8'
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}, // '9'
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, // ':'
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08}, // ';'
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, // '<'
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}, // '='
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, // '>'
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, // '?'
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e}, // '@'
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, // 'A'
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}, // 'B'
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}, // 'C'
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}, // 'D'
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}, // 'E'
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}, // 'F'
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}, // 'G'
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, // 'H'
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, // 'I'
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}, // 'J'
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, // 'K'
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}, // 'L'
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}, // 'M'
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, // 'N'
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, // 'O'
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}, // 'P'
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}, // 'Q'
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}, // 'R'
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}, // 'S'
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, // 'T'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, // 'U'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}, // 'V'
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}, // 'W'
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}, // 'X'
    {0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04}, // 'Y'
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}, // 'Z'
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e}, // '['
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, // '\\'
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e}, // ']'
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00}, // '^'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, // '_'
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, // '`'
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}, // 'a'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}, // 'b'
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}, // 'c'
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}, // 'd'
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}, // 'e'
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}, // 'f'
    {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, // 'g'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, // 'h'
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}, // 'i'
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c}, // 'j'
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, // 'k'
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, // 'l'
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}, // 'm'
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, // 'n'
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}, // 'o'
    {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}, // 'p'
    {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01}, // 'q'
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, // 'r'
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}, // 's'
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}, // 't'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}, // 'u'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}, // 'v'
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a}, // 'w'
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11}, // 'x'
    {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}, // 'y'
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f}, // 'z'
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, // '{'
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, // '|'
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, // '}'
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, // '~'
};

const uint8_t *glyph(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return kFont[(u >= 32 && u <= 126 ? u : '?') - 32];
}

} // namespace

Image::Image(int width, int height, Rgb background)
    : width_(std::max(width, 1)), height_(std::max(height, 1)),
      pixels_(static_cast<size_t>(width_) * height_ * 3) {
  fill(0, 0, width_, height_, background);
}

Rgb Image::at(int x, int y) const {
  const uint8_t *p = &pixels_[(static_cast<size_t>(y) * width_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Image::fill(int x, int y, int w, int h, Rgb color) {
  int x0 = std::max(x, 0), y0 = std::max(y, 0), x1 = std::min(x + w, width_), y1 = std::min(y + h, height_);
  for (int py = y0; py < y1; ++py)
    for (int px = x0; px < x1; ++px) {
      uint8_t *p = &pixels_[(static_cast<size_t>(py) * width_ + px) * 3];
      p[0] = color.r, p[1] = color.g, p[2] = color.b;
    }
}

/// Calls `plot(column, row)` for every set pixel of `text` laid out left to right, in font pixels.
template <typename Plot> static void forEachTextPixel(const std::string &text, Plot plot) {
  for (size_t i = 0; i < text.size(); ++i) {
    const uint8_t *rows = glyph(text[i]);
    for (int gy = 0; gy < kGlyphHeight; ++gy)
      for (int gx = 0; gx < kGlyphWidth; ++gx)
        if (rows[gy] & (0x10 >> gx))
          plot(static_cast<int>(i) * kAdvance + gx, gy);
  }
}

int Image::text(int x, int y, const std::string &text, Rgb color, int scale) {
  forEachTextPixel(
      text, [&](int column, int row) { fill(x + column * scale, y + row * scale, scale, scale, color); });
  return textWidth(text, scale);
}

void Image::textUp(int x, int y, const std::string &text, Rgb color, int scale) {
  // Font pixel (column, row) lands at (x + row, y - column - 1): rotated a quarter turn counter-clockwise.
  forEachTextPixel(text, [&](int column, int row) {
    fill(x + row * scale, y - (column + 1) * scale, scale, scale, color);
  });
}

int Image::textWidth(const std::string &text, int scale) {
  return text.empty() ? 0 : (static_cast<int>(text.size()) * kAdvance - 1) * scale;
}

int Image::textHeight(int scale) { return kGlyphHeight * scale; }

namespace {

void putBigEndian(std::vector<uint8_t> &out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(v >> shift));
}

/// Appends a PNG chunk: length, type, data, CRC of type and data.
void chunk(std::vector<uint8_t> &out, const char *type, const std::vector<uint8_t> &data) {
  putBigEndian(out, static_cast<uint32_t>(data.size()));
  size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  putBigEndian(out, static_cast<uint32_t>(crc32_z(0, &out[start], out.size() - start)));
}

} // namespace

Status writePng(const std::string &path, const Image &image) {
  // Scanlines, each with filter byte 0, deflated into a zlib stream.
  std::vector<uint8_t> raw;
  size_t stride = static_cast<size_t>(image.width()) * 3;
  for (int y = 0; y < image.height(); ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), image.pixels().begin() + y * stride, image.pixels().begin() + (y + 1) * stride);
  }
  uLongf zlibSize = compressBound(raw.size());
  std::vector<uint8_t> zlib(zlibSize);
  if (int rc = compress2(zlib.data(), &zlibSize, raw.data(), raw.size(), Z_DEFAULT_COMPRESSION); rc != Z_OK)
    return makeError(path, ": cannot compress the image (zlib error ", rc, ")");
  zlib.resize(zlibSize);

  std::vector<uint8_t> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<uint8_t> header;
  putBigEndian(header, static_cast<uint32_t>(image.width()));
  putBigEndian(header, static_cast<uint32_t>(image.height()));
  header.insert(header.end(), {8, 2, 0, 0, 0}); // 8-bit RGB, deflate, adaptive filtering, no interlace
  chunk(png, "IHDR", header);
  chunk(png, "IDAT", zlib);
  chunk(png, "IEND", {});
  return writeFileAtomically(path, {{png.data(), png.size()}});
}

Image renderHeatMap(const std::vector<float> &weights, int rows, int cols,
                    const std::vector<std::string> &rowLabels, const std::vector<std::string> &colLabels,
                    const std::string &title) {
  constexpr int kScale = 2, kCell = 28, kMargin = 12;
  const Rgb white{255, 255, 255}, black{0, 0, 0};
  int glyph = Image::textHeight(kScale);
  // Column labels that fit a cell are written across, longer ones upwards.
  bool across = true;
  int rowLabelWidth = 0, colLabelExtent = 0;
  for (const std::string &l : rowLabels)
    rowLabelWidth = std::max(rowLabelWidth, Image::textWidth(l, kScale));
  for (const std::string &l : colLabels) {
    across &= Image::textWidth(l, kScale) <= kCell - 4;
    colLabelExtent = std::max(colLabelExtent, Image::textWidth(l, kScale));
  }
  if (across)
    colLabelExtent = colLabels.empty() ? 0 : glyph;
  int titleHeight = glyph + kMargin;
  int left = kMargin + rowLabelWidth + kMargin, top = kMargin + titleHeight + colLabelExtent + kMargin / 2;
  int width = std::max(left + cols * kCell + kMargin, kMargin * 2 + Image::textWidth(title, kScale));
  Image image(width, top + rows * kCell + kMargin, white);
  image.text(kMargin, kMargin, title, black, kScale);
  for (int c = 0; c < cols && c < static_cast<int>(colLabels.size()); ++c) {
    if (across)
      image.text(left + c * kCell + (kCell - Image::textWidth(colLabels[c], kScale)) / 2,
                 top - kMargin / 2 - glyph, colLabels[c], black, kScale);
    else
      image.textUp(left + c * kCell + (kCell - glyph) / 2, top - kMargin / 2, colLabels[c], black, kScale);
  }
  for (int r = 0; r < rows && r < static_cast<int>(rowLabels.size()); ++r)
    image.text(left - kMargin - Image::textWidth(rowLabels[r], kScale), top + r * kCell + (kCell - glyph) / 2,
               rowLabels[r], black, kScale);
  // Shades from white (0) to dark blue (the largest weight), so that a flat row still shows its peaks.
  float largest = 0;
  for (float w : weights)
    if (std::isfinite(w))
      largest = std::max(largest, w);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      float w = weights[static_cast<size_t>(r) * cols + c];
      float t = std::isfinite(w) && largest > 0 ? std::clamp(w / largest, 0.0f, 1.0f) : 0.0f;
      Rgb shade{static_cast<uint8_t>(255 - t * 247), static_cast<uint8_t>(255 - t * 207),
                static_cast<uint8_t>(255 - t * 148)};
      image.fill(left + c * kCell + 1, top + r * kCell + 1, kCell - 2, kCell - 2, shade);
    }
  return image;
}

Image renderOverlay(const std::vector<float> &image, int channels, int height, int width,
                    const std::vector<float> &weights, int mapHeight, int mapWidth,
                    const std::string &title) {
  constexpr int kScale = 2, kMargin = 12, kPanel = 224;
  const Rgb white{255, 255, 255}, black{0, 0, 0};
  int pixel = std::max(1, kPanel / std::max(height, width));
  auto range = [](const std::vector<float> &v) {
    float lo = 0, hi = 0;
    bool first = true;
    for (float x : v)
      if (std::isfinite(x)) {
        lo = first ? x : std::min(lo, x), hi = first ? x : std::max(hi, x);
        first = false;
      }
    return std::pair{lo, hi > lo ? hi - lo : 1.0f};
  };
  auto [imageLow, imageSpan] = range(image);
  float largest = 1e-30f;
  for (float w : weights)
    if (std::isfinite(w))
      largest = std::max(largest, w);
  auto unit = [](float x) { return std::isfinite(x) ? std::clamp(x, 0.0f, 1.0f) : 0.0f; };
  auto input = [&](int c, int y, int x) {
    return unit((image[(static_cast<size_t>(c) * height + y) * width + x] - imageLow) / imageSpan);
  };
  auto weight = [&](int y, int x) {
    return unit(weights[static_cast<size_t>(y * mapHeight / height) * mapWidth + x * mapWidth / width] /
                largest);
  };

  int glyph = Image::textHeight(kScale), top = kMargin + glyph + kMargin + glyph + kMargin / 2;
  int panelWidth = width * pixel, panelHeight = height * pixel;
  Image out(std::max(kMargin + 3 * (panelWidth + kMargin), 2 * kMargin + Image::textWidth(title, kScale)),
            top + panelHeight + kMargin, white);
  out.text(kMargin, kMargin, title, black, kScale);
  const char *captions[3] = {"input", "weights", "overlay"};
  for (int panel = 0; panel < 3; ++panel) {
    int left = kMargin + panel * (panelWidth + kMargin);
    out.text(left, top - kMargin / 2 - glyph, captions[panel], black, kScale);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        float r = input(0, y, x), g = input(channels == 3 ? 1 : 0, y, x),
              b = input(channels == 3 ? 2 : 0, y, x);
        float w = weight(y, x);
        if (panel == 1) // white to dark blue, as the heat maps
          r = 1 - w * 247 / 255.0f, g = 1 - w * 207 / 255.0f, b = 1 - w * 148 / 255.0f;
        else if (panel == 2) // half the input, half red in proportion to the weight
          r = 0.5f * r + 0.5f * w, g = 0.5f * g, b = 0.5f * b;
        out.fill(
            left + x * pixel, top + y * pixel, pixel, pixel,
            {static_cast<uint8_t>(r * 255), static_cast<uint8_t>(g * 255), static_cast<uint8_t>(b * 255)});
      }
  }
  return out;
}

} // namespace attn::rt
