// Verifiers and dimension sources of the convolutional layer ops (NCHW feature maps with static channels,
// height and width): convolution, pooling, batch normalization, flattening and the CBAM and non-local
// attention layers, which share the checks of feature maps, window sizes and 1×1 projections.
#include "attn/Dialect/AttnOps.h"

#include "OpHelpers.h"

#include <string>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// Convolutional ops
//===----------------------------------------------------------------------===//

/// Feature maps are [B, C, H, W] with static C, H and W (B may be dynamic).
static LogicalResult expectFeatureMap(Operation *op, Value v) {
  if (failed(expectRank(op, "an input", v, 4, "[batch, channels, height, width]")))
    return failure();
  auto type = cast<RankedTensorType>(v.getType());
  for (int d = 1; d < 4; ++d)
    if (type.isDynamicDim(d))
      return op->emitOpError() << "expects static channels, height and width, found "
                               << shapeString(v.getType());
  return success();
}

static LogicalResult expectPairs(Operation *op, ArrayRef<std::pair<StringRef, ArrayRef<int64_t>>> attrs,
                                 int64_t min) {
  for (auto [name, values] : attrs) {
    if (values.size() != 2)
      return op->emitOpError() << "expects " << name << " to have 2 values (height, width), found "
                               << values.size();
    for (int64_t v : values)
      if (v < min)
        return op->emitOpError() << "expects " << name << " values >= " << min << ", found " << v;
  }
  return success();
}

/// (in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1, or 0 if the window does not fit.
static int64_t windowCount(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

LogicalResult Conv2DOp::verify() {
  Value x = getInput(), w = getWeight();
  if (failed(expectFeatureMap(*this, x)) ||
      failed(expectRank(*this, "a weight", w, 4, "[out channels, in channels / groups, kh, kw]")) ||
      failed(expectPairs(*this, {{"stride", getStride()}, {"dilation", getDilation()}}, 1)) ||
      failed(expectPairs(*this, {{"padding", getPadding()}}, 0)))
    return failure();
  int64_t groups = getGroups(), cin = dimOf(x, 1), cout = dimOf(w, 0);
  if (cin % groups != 0 || cout % groups != 0)
    return emitOpError() << "expects input channels (" << cin << ") and output channels (" << cout
                         << ") divisible by groups (" << groups << ")";
  if (dimOf(w, 1) != cin / groups)
    return emitOpError() << "expects a weight with " << cin / groups
                         << " input channels per group (input channels / groups), found "
                         << shapeString(w.getType());
  if (Value b = getBias())
    if (failed(expectRank(*this, "a bias", b, 1, "[out channels]")) ||
        failed(expectSameDim(*this, "output channels", "bias", b, 0, "weight", w, 0)))
      return failure();
  for (int d = 0; d < 2; ++d)
    if (windowCount(dimOf(x, 2 + d), dimOf(w, 2 + d), getStride()[d], getPadding()[d], getDilation()[d]) < 1)
      return emitOpError() << "expects the kernel to fit the padded input, found input "
                           << shapeString(x.getType()) << " and weight " << shapeString(w.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> Conv2DOp::getResultDimSources() {
  Value x = getInput(), w = getWeight();
  SmallVector<DimSource> dims{DimSource::of(0, 0), DimSource::of(1, 0)};
  for (int d = 0; d < 2; ++d)
    dims.push_back(DimSource::constant(
        windowCount(dimOf(x, 2 + d), dimOf(w, 2 + d), getStride()[d], getPadding()[d], getDilation()[d])));
  return dims;
}

static LogicalResult expectPoolKind(Operation *op, StringRef kind) {
  if (kind == "max" || kind == "avg")
    return success();
  return op->emitOpError() << "expects kind \"max\" or \"avg\", found \"" << kind << "\"";
}

LogicalResult Pool2DOp::verify() {
  Value x = getInput();
  if (failed(expectFeatureMap(*this, x)) || failed(expectPoolKind(*this, getKind())) ||
      failed(expectPairs(*this, {{"kernel", getKernel()}, {"stride", getStride()}}, 1)) ||
      failed(expectPairs(*this, {{"padding", getPadding()}}, 0)))
    return failure();
  for (int d = 0; d < 2; ++d) {
    if (2 * getPadding()[d] > getKernel()[d])
      return emitOpError() << "expects padding at most half the kernel, found padding " << getPadding()[d]
                           << " for kernel " << getKernel()[d];
    if (windowCount(dimOf(x, 2 + d), getKernel()[d], getStride()[d], getPadding()[d], 1) < 1)
      return emitOpError() << "expects the window to fit the padded input, found input "
                           << shapeString(x.getType()) << " and kernel " << getKernel()[d];
  }
  return verifyResultShape(*this);
}

SmallVector<DimSource> Pool2DOp::getResultDimSources() {
  Value x = getInput();
  SmallVector<DimSource> dims{DimSource::of(0, 0), DimSource::of(0, 1)};
  for (int d = 0; d < 2; ++d)
    dims.push_back(DimSource::constant(
        windowCount(dimOf(x, 2 + d), getKernel()[d], getStride()[d], getPadding()[d], 1)));
  return dims;
}

LogicalResult GlobalPoolOp::verify() {
  if (failed(expectFeatureMap(*this, getInput())) || failed(expectPoolKind(*this, getKind())))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> GlobalPoolOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1)};
}

/// Checks that each of `params` is a vector of the input's `channels`.
static LogicalResult expectChannelVectors(Operation *op, Value x,
                                          ArrayRef<std::pair<StringRef, Value>> params) {
  for (auto [name, v] : params)
    if (failed(expectRank(op, std::string("a ") + name.str(), v, 1, "[channels]")) ||
        failed(expectSameDim(op, "channel count", name, v, 0, "the input", x, 1)))
      return failure();
  return success();
}

LogicalResult BatchNormOp::verify() {
  Value x = getInput();
  if (rankOf(x) < 2)
    return emitOpError() << "expects an input of rank >= 2 [batch, channels, ...], found "
                         << shapeString(x.getType());
  if (ShapedType::isDynamic(dimOf(x, 1)))
    return emitOpError() << "expects a static channel count, found " << shapeString(x.getType());
  if (failed(expectChannelVectors(*this, x, {{"weight", getWeight()}, {"bias", getBias()},
                                              {"mean", getMean()}, {"variance", getVariance()}})))
    return failure();
  if (!(getEpsilon().convertToDouble() > 0))
    return emitOpError() << "expects a positive epsilon, found " << getEpsilon().convertToDouble();
  return verifyResultShape(*this);
}

SmallVector<DimSource> BatchNormOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult FlattenOp::verify() {
  auto type = cast<RankedTensorType>(getInput().getType());
  if (type.getRank() < 2)
    return emitOpError() << "expects an input of rank >= 2, found " << shapeString(type);
  for (int64_t d = 1; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      return emitOpError() << "expects static dimensions after the first, found " << shapeString(type);
  return verifyResultShape(*this);
}

SmallVector<DimSource> FlattenOp::getResultDimSources() {
  auto type = cast<RankedTensorType>(getInput().getType());
  int64_t size = 1;
  for (int64_t d = 1; d < type.getRank(); ++d)
    size *= type.getDimSize(d);
  return {DimSource::of(0, 0), DimSource::constant(size)};
}

/// A 1×1 convolution given as an [out, in] matrix and its [out] bias.
static LogicalResult expectProjection(Operation *op, StringRef name, Value w, Value b, int64_t in,
                                      std::optional<int64_t> out) {
  if (failed(expectRank(op, std::string("a ") + name.str() + " weight", w, 2, "[out, in]")) ||
      failed(expectRank(op, std::string("a ") + name.str() + " bias", b, 1, "[out]")))
    return failure();
  if (dimOf(w, 1) != in || (out && dimOf(w, 0) != *out))
    return op->emitOpError() << "expects the " << name << " weight to be ["
                             << (out ? std::to_string(*out) : "N") << ", " << in << "], found "
                             << shapeString(w.getType());
  if (dimOf(b, 0) != dimOf(w, 0))
    return op->emitOpError() << "expects the " << name << " bias to be [" << dimOf(w, 0) << "], found "
                             << shapeString(b.getType());
  return success();
}

LogicalResult ChannelAttentionOp::verify() {
  Value x = getInput();
  if (failed(expectFeatureMap(*this, x)) ||
      failed(expectProjection(*this, "first", getW1(), getB1(), dimOf(x, 1), std::nullopt)) ||
      failed(expectProjection(*this, "second", getW2(), getB2(), dimOf(getW1(), 0), dimOf(x, 1))))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> ChannelAttentionOp::getResultDimSources() { return identityDims(getInput()); }

/// CBAM spatial attention's operands: a feature map and a [1, 2, k, k] kernel with an odd k.
static LogicalResult verifySpatialAttention(Operation *op, Value x, Value w) {
  if (failed(expectFeatureMap(op, x)) || failed(expectRank(op, "a weight", w, 4, "[1, 2, k, k]")))
    return failure();
  if (dimOf(w, 0) != 1 || dimOf(w, 1) != 2 || dimOf(w, 2) != dimOf(w, 3) || dimOf(w, 2) % 2 == 0)
    return op->emitOpError() << "expects a weight [1, 2, k, k] with an odd k, found "
                             << shapeString(w.getType());
  return verifyResultShape(op);
}

LogicalResult SpatialAttentionOp::verify() { return verifySpatialAttention(*this, getInput(), getWeight()); }

SmallVector<DimSource> SpatialAttentionOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult SpatialAttentionWeightsOp::verify() {
  return verifySpatialAttention(*this, getInput(), getWeight());
}

SmallVector<DimSource> SpatialAttentionWeightsOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims[1] = DimSource::constant(1);
  return dims;
}

LogicalResult SelfAttention2DOp::verify() {
  Value x = getInput();
  if (failed(expectFeatureMap(*this, x)))
    return failure();
  int64_t c = dimOf(x, 1), inner = dimOf(getWq(), 0);
  if (failed(expectProjection(*this, "query", getWq(), getBq(), c, std::nullopt)) ||
      failed(expectProjection(*this, "key", getWk(), getBk(), c, inner)) ||
      failed(expectProjection(*this, "value", getWv(), getBv(), c, inner)) ||
      failed(expectProjection(*this, "output", getWo(), getBo(), inner, c)))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> SelfAttention2DOp::getResultDimSources() { return identityDims(getInput()); }
