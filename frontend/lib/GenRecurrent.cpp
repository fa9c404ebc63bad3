// The sequence layers that read tokens and steps: embeddings (which record the vocabulary size that the
// runtime checks input ids against) and multi-layer, optionally bidirectional LSTM and GRU layers.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnDialect.h"
#include "attn/Dialect/AttnOps.h"

namespace attn::gen {

/// embed(tokens, vocab, dim): tokens are an i32 input, whose ids the runtime checks against `vocab`.
std::optional<Tensor> MLIRGenImpl::genEmbed(const CallExpr &call, const BoundArgs &args,
                                            const std::string &prefix) {
  const Expr &te = *args.get("tokens");
  std::optional<Tensor> tokens = genTensor(te, false, "'tokens'");
  std::optional<int64_t> vocab = intArg(args, "vocab", 0, 1), dim = intArg(args, "dim", 0, 1);
  if (!tokens || !vocab || !dim)
    return std::nullopt;
  if (!tokens->isI32) {
    error(te.getLoc()) << "embed expects i32 token ids for 'tokens', found f32";
    return std::nullopt;
  }
  // Ids from an input are checked against the vocabulary; a decoder's own tokens come from its scores,
  // or from the teacher's input, which is checked instead.
  mlir::Value source = tokens->value == decoderToken && decoderTeacher ? decoderTeacher : tokens->value;
  boundInput(source, mlir::attn::AttnDialect::kVocabSizeAttr, builder.getI64IntegerAttr(*vocab));
  mlir::Value table = param(prefix + ".weight", {*vocab, *dim}, loc(call.getLoc()));
  auto op =
      mlir::attn::EmbeddingOp::create(builder, opLoc(call), irType(tokens->shape), tokens->value, table);
  return finish(op, *tokens);
}

/// lstm/gru(x, hidden, bidirectional, layers, lengths): per layer and direction, the input projection of
/// the whole sequence as one dense layer, then the recurrence; a bidirectional layer concatenates its two
/// directions. Parameters are named as in torch.nn.LSTM/GRU's state_dict (weight_ih_l0, ..._reverse).
std::optional<Tensor> MLIRGenImpl::genRecurrent(const CallExpr &call, const BoundArgs &args,
                                                StringRef layerName, const std::string &prefix) {
  bool isLSTM = layerName == "lstm";
  int64_t gateCount = isLSTM ? mlir::attn::LSTMOp::kGates : mlir::attn::GRUOp::kGates;
  const Expr &xe = *args.get("x");
  std::optional<Tensor> x = genTensor(xe, false, "'x'");
  std::optional<int64_t> hidden = intArg(args, "hidden", 0, 1),
                         layers = intArg(args, "layers", 1, 1, kMaxLayers);
  std::optional<bool> bidirectional = boolArg(args, "bidirectional", false);
  std::optional<Tensor> lengths;
  if (const Expr *l = args.get("lengths")) {
    lengths = genTensor(*l, false, "'lengths'");
    if (!lengths)
      return std::nullopt;
  }
  if (!x || !hidden || !layers || !bidirectional || !expectF32(*x, xe, layerName, "x"))
    return std::nullopt;
  if (x->shape.size() != 3 || !x->shape[2].symbol.empty()) {
    error(xe.getLoc()) << layerName
                       << " expects a sequence [batch, steps, features] with constant features, found "
                       << str(x->shape);
    return std::nullopt;
  }
  if (lengths && (!lengths->isI32 || lengths->shape != SymShape{x->shape[0]})) {
    error(args.get("lengths")->getLoc())
        << layerName << " expects i32 lengths of shape " << str({x->shape[0]})
        << " (one per sequence), found " << (lengths->isI32 ? "i32" : "f32") << str(lengths->shape);
    return std::nullopt;
  }
  if (lengths)
    boundLengths(lengths->value, x->shape[1]);
  mlir::Location l = loc(call.getLoc()), at = opLoc(call);
  int64_t h = *hidden;
  Tensor input = *x;
  for (int64_t layer = 0; layer < *layers; ++layer) {
    std::vector<Tensor> directions;
    for (bool reverse : {false, true}) {
      if (reverse && !*bidirectional)
        break;
      std::string suffix = "_l" + std::to_string(layer) + (reverse ? "_reverse" : "");
      int64_t in = input.shape[2].size;
      int64_t g = gateCount * h;
      SymShape projected{input.shape[0], input.shape[1], SymDim{g, ""}};
      mlir::Value xp = mlir::attn::DenseOp::create(builder, at, irType(projected), input.value,
                                                   param(prefix + ".weight_ih" + suffix, {g, in}, l),
                                                   param(prefix + ".bias_ih" + suffix, {g}, l));
      SymShape outShape{input.shape[0], input.shape[1], SymDim{h, ""}};
      mlir::Value whh = param(prefix + ".weight_hh" + suffix, {g, h}, l);
      mlir::Value bhh = param(prefix + ".bias_hh" + suffix, {g}, l);
      mlir::Value len = lengths ? lengths->value : mlir::Value();
      mlir::UnitAttr rev = reverse ? builder.getUnitAttr() : nullptr;
      // The second result, what a gradient reads of each step, is typed here and read only there.
      SymShape stepsShape{input.shape[0], input.shape[1], SymDim{(isLSTM ? 5 : 3) * h, ""}};
      llvm::SmallVector<mlir::Type, 2> types{irType(outShape), irType(stepsShape)};
      mlir::Value y =
          isLSTM ? mlir::attn::LSTMOp::create(builder, at, types, xp, whh, bhh, len, rev).getResult()
                 : mlir::attn::GRUOp::create(builder, at, types, xp, whh, bhh, len, rev).getResult();
      directions.push_back(Tensor{y, outShape});
    }
    if (directions.size() == 1) {
      input = directions.front();
    } else {
      SymShape both{input.shape[0], input.shape[1], SymDim{2 * h, ""}};
      input = Tensor{mlir::attn::ConcatOp::create(builder, at, irType(both), directions[0].value,
                                                  directions[1].value),
                     both};
    }
  }
  return input;
}

} // namespace attn::gen
