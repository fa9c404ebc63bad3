// RGB images for the generated programs' `attention` command: drawing text with a built-in 5×7 font,
// rendering a matrix of weights as a labelled heat map, and writing PNG files (with zlib, which every system
// has, rather than an image library).
#ifndef ATTN_RUNTIME_IMAGE_H
#define ATTN_RUNTIME_IMAGE_H

#include "attn/Runtime/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {

struct Rgb {
  uint8_t r, g, b;
};

/// An 8-bit RGB image, rows top to bottom.
class Image {
public:
  Image(int width, int height, Rgb background);
  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<uint8_t> &pixels() const { return pixels_; }
  Rgb at(int x, int y) const;

  /// Fills the rectangle [x, x + w) × [y, y + h), clipped to the image.
  void fill(int x, int y, int w, int h, Rgb color);
  /// Draws `text` (printable ASCII; other bytes show as '?') with its top-left corner at (x, y), each font
  /// pixel `scale` pixels wide; returns the width drawn.
  int text(int x, int y, const std::string &text, Rgb color, int scale = 1);
  /// Draws `text` rotated a quarter turn counter-clockwise (read bottom to top), its bottom-left at (x, y).
  void textUp(int x, int y, const std::string &text, Rgb color, int scale = 1);

  static int textWidth(const std::string &text, int scale = 1);
  static int textHeight(int scale = 1);

private:
  int width_, height_;
  std::vector<uint8_t> pixels_;
};

/// Writes `image` as an 8-bit RGB PNG, deflated with zlib, atomically.
Status writePng(const std::string &path, const Image &image);

/// A heat map of `weights` (rows × cols, row-major): one cell per weight shaded from white (0) to dark
/// blue (the largest weight), column labels (e.g. source tokens) above, row labels (output tokens) on the
/// left, and a title.
Image renderHeatMap(const std::vector<float> &weights, int rows, int cols,
                    const std::vector<std::string> &rowLabels, const std::vector<std::string> &colLabels,
                    const std::string &title);

/// Spatial attention over an image: three panels, the input (`channels` 1 for grey or 3 for RGB, values
/// scaled to their range), the weights (mapHeight × mapWidth, stretched to the image), and the input
/// tinted red where the weights are high; each panel is scaled up to about 224 pixels.
Image renderOverlay(const std::vector<float> &image, int channels, int height, int width,
                    const std::vector<float> &weights, int mapHeight, int mapWidth, const std::string &title);

} // namespace attn::rt

#endif // ATTN_RUNTIME_IMAGE_H
