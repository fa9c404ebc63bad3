// Emits the C table of a compiled model: its values (inputs, parameters, kernel results) with static or
// run-time dimensions, its kernels in call order, and its outputs. A dynamic dimension of a kernel result
// is traced through the kernel body, via each op's dimension sources, back to a dimension of an earlier
// value, so the runtime computes every shape by copying one number.
#include "attn/Target/ModelSpec.h"

#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/KernelFormation.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"

#include <optional>

using namespace mlir;
using namespace mlir::attn;

namespace {

struct DimEntry {
  int64_t size = -1;      // static size, or -1
  std::string symbol;     // inputs: the symbol of a dynamic dimension
  int srcValue = -1, srcDim = 0;
};

struct ValueEntry {
  std::string name;
  const char *role;
  const char *dtype;
  std::vector<DimEntry> dims;
  int64_t vocabSize = 0;
  std::vector<std::string> vocab; // the tokens of a token input or output
  int64_t classes = 0;
  std::optional<int64_t> ignoreId;
  int64_t maxLength = 0;
  std::string maxLengthDim;
  int64_t teacherStop = -1;
  std::string init = "ATTN_INIT_UNIFORM_FAN_IN";
  double initScale = 0;
};

/// coefficient × the product of the extents of some dimensions of a kernel's arguments, as (argument
/// position, dimension) pairs: one op's floating-point operations per call of its kernel.
struct FlopTerm {
  double coefficient = 1;
  std::vector<std::pair<int, int>> factors;
};

/// The floating-point operations of a call of `kernel` as terms, one per computing op: 2 per multiply-add of
/// the products (dense, convolution, scores, weighted sums, the recurrent products of LSTM/GRU layers, the
/// gate products of their cells, weight gradients) and 1 per element of elementwise ops and of row-wise
/// normalizations (softmax, layer norm). None when an op's cost is not modelled (the other gradients,
/// reductions, pooling).
std::optional<std::vector<FlopTerm>> kernelFlops(KernelOp kernel) {
  Block &body = kernel.getBody().front();
  auto isArgument = [&](Value value) {
    auto arg = dyn_cast<BlockArgument>(value);
    return arg && arg.getOwner() == &body;
  };
  // Multiplies `t` by dimension `d` of `v`: its static size, or the argument dimension it traces back to.
  auto times = [&](FlopTerm &t, Value v, int64_t d) {
    auto type = cast<RankedTensorType>(v.getType());
    if (d < 0)
      d += type.getRank();
    if (!type.isDynamicDim(d)) {
      t.coefficient *= double(type.getDimSize(d));
      return true;
    }
    auto [source, sourceDim] = traceDimension(v, static_cast<unsigned>(d), isArgument);
    if (!isArgument(source))
      return false;
    t.factors.push_back(
        {static_cast<int>(cast<BlockArgument>(source).getArgNumber()), static_cast<int>(sourceDim)});
    return true;
  };
  auto timesElements = [&](FlopTerm &t, Value v, int64_t skipLast = 0) {
    int64_t rank = cast<RankedTensorType>(v.getType()).getRank();
    for (int64_t d = 0; d + skipLast < rank; ++d)
      if (!times(t, v, d))
        return false;
    return true;
  };
  // A cell's `gates` products of the input and the hidden state (static widths) per hidden unit.
  auto cellGates = [](FlopTerm &t, int gates, Value input, Value hidden) {
    auto in = cast<RankedTensorType>(input.getType()), h = cast<RankedTensorType>(hidden.getType());
    if (in.isDynamicDim(in.getRank() - 1) || h.isDynamicDim(h.getRank() - 1))
      return false;
    t.coefficient = 2.0 * gates * double(in.getShape().back() + h.getShape().back());
    return true;
  };
  std::vector<FlopTerm> terms;
  for (Operation &op : body.without_terminator()) {
    if (op.hasTrait<Reindexing>())
      continue;
    FlopTerm t;
    bool known =
        llvm::TypeSwitch<Operation *, bool>(&op)
            .Case([&](DenseOp d) {
              t.coefficient = 2;
              return times(t, d.getInput(), -1);
            })
            .Case([&](MatmulOp m) { // each output sums the products along lhs's last dimension
              t.coefficient = 2;
              return times(t, m.getLhs(), -1);
            })
            .Case([&](Conv2DOp c) {
              auto w = cast<RankedTensorType>(c.getWeight().getType()).getShape();
              t.coefficient = 2.0 * double(w[1] * w[2] * w[3]);
              return true;
            })
            .Case([&](ScoreOp s) {
              t.coefficient = 2.0 / double(s.getNumHeads());
              return times(t, s.getQuery(), -1);
            })
            .Case([&](WeightedSumOp w) {
              t.coefficient = 2;
              return times(t, w.getValues(), 1);
            })
            .Case([&](LSTMOp l) {
              t.coefficient = 8;
              return times(t, l.getResult(), -1);
            })
            .Case([&](GRUOp g) {
              t.coefficient = 6;
              return times(t, g.getResult(), -1);
            })
            .Case([&](LSTMCellOp c) { // the gates: [x, h]·[W_ih, W_hh]ᵀ per hidden unit
              return cellGates(t, 4, c.getInput(), c.getHidden());
            })
            .Case([&](GRUCellOp c) { return cellGates(t, 3, c.getInput(), c.getHidden()); })
            .Case([&](DenseGradWeightOp g) {
              t.coefficient = 2; // each result element sums over every row of the input
              return timesElements(t, g.getInput(), /*skipLast=*/1);
            })
            .Case<SoftmaxOp, LogSoftmaxOp, MaskedSoftmaxOp, LayerNormOp>([](Operation *) { return true; })
            .Default([](Operation *o) { return o->hasTrait<Elementwise>(); });
    if (!known || !timesElements(t, op.getResult(0)))
      return std::nullopt;
    terms.push_back(std::move(t));
  }
  return terms;
}

std::vector<std::string> vocabTokens(ArrayAttr tokens) {
  std::vector<std::string> out;
  if (tokens)
    for (Attribute t : tokens)
      out.push_back(cast<StringAttr>(t).str());
  return out;
}

std::string cString(StringRef s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      out += llvm::formatv("\\{0:o3}", static_cast<unsigned char>(c)).str();
    else
      out += c;
  }
  return out + "\"";
}

class SpecBuilder {
public:
  SpecBuilder(func::FuncOp func, bool splitRows) : func(func), splitRows(splitRows) {}

  LogicalResult build() {
    Block &body = func.getBody().front();
    for (BlockArgument arg : body.getArguments())
      if (failed(addInput(arg)))
        return failure();
    for (Operation &op : body) {
      if (auto param = dyn_cast<ParamOp>(op)) {
        addParam(param);
      } else if (auto kernel = dyn_cast<KernelOp>(op)) {
        steps.push_back(kernels.size());
        if (failed(addKernel(kernel)))
          return failure();
      } else if (auto decode = dyn_cast<DecodeOp>(op)) {
        steps.push_back(-1 - static_cast<int>(decoders.size()));
        if (failed(addDecoder(decode)))
          return failure();
      } else if (auto sum = dyn_cast<AllSumOp>(op)) {
        steps.push_back(kernels.size());
        addAllSum(sum);
      } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
        if (failed(addOutputs(ret)))
          return failure();
      } else {
        return op.emitOpError("is outside any attn.kernel; run attn-outline-kernels before emitting a model");
      }
    }
    return success();
  }

  /// Writes the spec as C definitions whose names start with `p`, ending with `attn_model_spec <p>model`;
  /// `gradient` names the spec of the model's gradient program, if it has one.
  void print(const ModelSpecInfo &info, llvm::raw_ostream &os, const std::string &p,
             const std::string &gradient, const std::string &training) const {
    for (const auto &k : kernels)
      if (!k.collective)
        os << "extern int " << k.entry << "_argv(void **args);\n";
    os << "\n";
    for (auto [i, v] : llvm::enumerate(values)) {
      os << "static const attn_dim " << p << "dims" << i << "[] = {";
      for (const DimEntry &d : v.dims)
        os << "{" << d.size << ", " << (d.symbol.empty() ? "0" : cString(d.symbol)) << ", " << d.srcValue
           << ", " << d.srcDim << "}, ";
      if (v.dims.empty())
        os << "{0, 0, -1, 0}";
      os << "};\n";
    }
    for (auto [i, v] : llvm::enumerate(values)) {
      if (v.vocab.empty())
        continue;
      os << "static const char *const " << p << "vocab" << i << "[] = {";
      for (const std::string &token : v.vocab)
        os << cString(token) << ", ";
      os << "};\n";
    }
    os << "\nstatic const attn_value " << p << "values[] = {\n";
    for (auto [i, v] : llvm::enumerate(values))
      os << "  {" << cString(v.name) << ", " << v.role << ", " << v.dtype << ", " << v.dims.size() << ", "
         << p << "dims" << i << ", " << v.vocabSize << ", " << v.vocab.size() << ", "
         << (v.vocab.empty() ? "0" : p + "vocab" + std::to_string(i)) << ", " << v.classes << ", "
         << v.ignoreId.has_value() << ", " << v.ignoreId.value_or(0) << ", " << v.maxLength << ", "
         << (v.maxLengthDim.empty() ? "0" : cString(v.maxLengthDim)) << ", " << v.teacherStop << ", "
         << v.init << ", " << llvm::format("%.17g", v.initScale) << "},\n";
    os << "};\n\n";
    for (auto [i, k] : llvm::enumerate(kernels)) {
      os << "static const int32_t " << p << "args" << i << "[] = {";
      llvm::interleaveComma(k.args, os);
      os << "};\n";
    }
    for (auto [i, k] : llvm::enumerate(kernels)) {
      if (!k.flops)
        continue;
      for (auto [j, term] : llvm::enumerate(*k.flops)) {
        os << "static const int32_t " << p << "flop_factors" << i << "_" << j << "[] = {";
        for (auto [arg, dim] : term.factors)
          os << arg << ", " << dim << ", ";
        os << "-1};\n";
      }
      os << "static const attn_flop_term " << p << "flops" << i << "[] = {";
      for (auto [j, term] : llvm::enumerate(*k.flops))
        os << "{" << llvm::formatv("{0:e}", term.coefficient) << ", " << term.factors.size() << ", " << p
           << "flop_factors" << i << "_" << j << "}, ";
      os << "{0, 0, 0}};\n";
    }
    os << "\nstatic const attn_kernel " << p << "kernels[] = {\n";
    for (auto [i, k] : llvm::enumerate(kernels))
      os << "  {" << cString(k.name) << ", " << (k.collective ? "0" : k.entry + "_argv") << ", "
         << k.args.size() << ", " << k.numResults << ", " << p << "args" << i << ", "
         << (k.flops ? std::to_string(k.flops->size()) : std::string("-1")) << ", "
         << (k.flops ? p + "flops" + std::to_string(i) : std::string("0")) << ", " << k.collective << "},\n";
    if (kernels.empty())
      os << "  {0, 0, 0, 0, 0, 0, 0, 0},\n";
    os << "};\n\n";
    auto array = [&](const std::string &name, const std::vector<int> &items) {
      os << "static const int32_t " << p << name << "[] = {";
      llvm::interleaveComma(items, os);
      os << (items.empty() ? "-1" : "") << "};\n";
    };
    for (auto [i, d] : llvm::enumerate(decoders)) {
      std::string n = std::to_string(i);
      array("init" + n, d.stateInit);
      array("state_in" + n, d.stateIn);
      array("state_out" + n, d.stateOut);
      array("captures" + n, d.captures);
      array("views" + n, d.views);
      array("emits" + n, d.emits);
      array("results" + n, d.results);
      array("sequences" + n, d.sequences);
      array("sequence_views" + n, d.sequenceViews);
      array("state_rows" + n, d.stateRows);
    }
    os << "\nstatic const attn_decoder " << p << "decoders[] = {\n";
    for (auto [i, d] : llvm::enumerate(decoders)) {
      std::string n = std::to_string(i);
      os << "  {" << cString(d.name) << ", " << d.mode << ", " << d.start << ", " << d.stop << ", " << d.pad
         << ", " << d.maxLen << ", " << d.width << ", " << llvm::formatv("{0:e}", d.lengthPenalty).str()
         << "f, " << d.firstKernel << ", " << d.numKernels << ", " << d.token << ", " << d.position << ", "
         << d.teacher << ",\n   " << d.stateIn.size() << ", " << p << "init" << n << ", " << p << "state_in"
         << n << ", " << p << "state_out" << n << ", " << d.captures.size() << ", " << p << "captures" << n
         << ", " << p << "views" << n << ", " << d.emits.size() << ", " << p << "emits" << n << ", "
         << d.results.size() << ", " << p << "results" << n << ",\n   " << d.sequences.size() << ", " << p
         << "sequences" << n << ", " << p << "sequence_views" << n << ", " << d.splitRows << ", " << p
         << "state_rows" << n << "},\n";
    }
    if (decoders.empty())
      os << "  {0},\n";
    os << "};\n\n";
    array("steps", steps);
    os << "\nstatic const attn_output " << p << "outputs[] = {\n";
    for (const auto &[name, value] : outputs)
      os << "  {" << cString(name) << ", " << value << "},\n";
    os << "};\n\n"
       << "static const attn_model_spec " << p << "model = {\n  " << cString(info.modelName) << ", "
       << cString(info.sourceFile) << ", " << cString(info.target) << ",\n  " << values.size() << ", " << p
       << "values, " << kernels.size() << ", " << p << "kernels, " << decoders.size() << ", " << p
       << "decoders, " << steps.size() << ", " << p << "steps, " << outputs.size() << ", " << p << "outputs, "
       << (gradient.empty() ? "0" : "&" + gradient) << ", " << (training.empty() ? "0" : "&" + training)
       << "};\n\n";
  }

  /// The input of the loss's targets when the loss (result 0 of a gradient program) is a cross_entropy
  /// with an ignored id; -1 for another loss; -2 where the targets are computed, not an input.
  int lossTargets() {
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    auto loss = dyn_cast<OpResult>(ret.getOperand(0));
    auto kernel = loss ? dyn_cast<KernelOp>(loss.getOwner()) : nullptr;
    if (!kernel)
      return -1;
    Value inner = kernel.getBody().front().getTerminator()->getOperand(loss.getResultNumber());
    auto ce = inner.getDefiningOp<CrossEntropyOp>();
    if (!ce || !ce.getIgnoreIndex())
      return -1;
    Value targets = ce.getTargets();
    while (Operation *op = targets.getDefiningOp()) // reindexing ops the kernel took in (a reshape)
      if (isReindexing(op) && op->getNumOperands() == 1)
        targets = op->getOperand(0);
      else
        return -2;
    Value outer = kernel.getInputs()[cast<BlockArgument>(targets).getArgNumber()];
    return isa<BlockArgument>(outer) ? indexOf(outer) : -2;
  }

private:
  struct KernelEntry {
    std::string name, entry;
    std::vector<int> args;
    int numResults;
    std::optional<std::vector<FlopTerm>> flops;
    int collective = 0; // enum attn_collective: the runtime's sum across processes, not a Halide pipeline
  };

  struct DecoderEntry {
    std::string name;
    const char *mode;
    int64_t start, stop, pad, maxLen, width;
    float lengthPenalty;
    int firstKernel = 0, numKernels = 0, token = -1, position = -1, teacher = -1;
    std::vector<int> stateInit, stateIn, stateOut, captures, views, emits, results, sequences, sequenceViews;
    int splitRows = 0;
    std::vector<int> stateRows;
  };

  void addParam(ParamOp param) {
    // A parameter read in several places (a decoder step used for training and for search) is one value.
    auto [it, inserted] = paramIndex.try_emplace(param.getName(), static_cast<int>(values.size()));
    if (!inserted) {
      index[param.getResult()] = it->second;
      return;
    }
    ValueEntry entry{param.getName().str(), "ATTN_ROLE_PARAM", "ATTN_F32", {}};
    if (std::optional<StringRef> init = param.getInit())
      entry.init = "ATTN_INIT_" + init->upper();
    if (FloatAttr scale = param.getInitScaleAttr())
      entry.initScale = scale.getValueAsDouble();
    addValue(param.getResult(), std::move(entry));
  }

  /// The index of `v`; inside a decoder step, a batched loop-invariant value is read through its view.
  int indexOf(Value v) const {
    if (auto it = views.find(v); it != views.end())
      return it->second;
    return index.lookup(v);
  }

  static const char *dtypeOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getElementType().isF32() ? "ATTN_F32" : "ATTN_I32";
  }

  /// What dimension `dim` of `v` is, for messages: an input's symbol, a size, or "?".
  std::string symbolOf(Value v, unsigned dim) {
    auto type = cast<RankedTensorType>(v.getType());
    if (!type.isDynamicDim(dim))
      return std::to_string(type.getDimSize(dim));
    auto [src, srcDim] = trace(v, dim);
    auto arg = dyn_cast<BlockArgument>(src);
    if (!arg || arg.getOwner() != &func.getBody().front())
      return "?";
    auto dims = func.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(), AttnDialect::kInputDimsAttr);
    if (dims && srcDim < dims.size())
      if (auto symbol = dyn_cast<StringAttr>(dims[srcDim]))
        return symbol.str();
    return "?";
  }

  /// Whether the first dimension of `v` is the batch, the first dimension of `batched`.
  /// Traced through views too: a value computed from an earlier capture is batched like it.
  bool isBatched(Value v, Value batched) {
    if (cast<RankedTensorType>(v.getType()).getRank() == 0)
      return false;
    auto throughViews = [](Value) { return false; };
    if (traceDimension(v, 0, throughViews) == traceDimension(batched, 0, throughViews))
      return true;
    std::string symbol = symbolOf(batched, 0);
    return symbol != "?" && symbolOf(v, 0) == symbol;
  }

  /// A value the runtime sizes when its decoder runs: `first` names its first dimension, the others are
  /// static or copied from `like` (an earlier value of the same trailing shape), if given.
  int addStepValue(Value v, const std::string &name, const std::string &first, Value like = {}) {
    auto type = cast<RankedTensorType>(v.getType());
    ValueEntry entry{name, "ATTN_ROLE_STEP", dtypeOf(v), {}};
    for (int64_t d = 0; d < type.getRank(); ++d) {
      DimEntry dim;
      if (d > 0 && !type.isDynamicDim(d)) {
        dim.size = type.getDimSize(d);
      } else if (d > 0 && like) {
        dim.srcValue = indexOf(like);
        dim.srcDim = d;
      } else {
        dim.symbol = d == 0 ? first : symbolOf(v, d);
      }
      entry.dims.push_back(dim);
    }
    return addValue(v, std::move(entry));
  }

  /// A decoder: its step's values and kernels, the outer values it reads, and its results.
  LogicalResult addDecoder(DecodeOp decode) {
    auto named = dyn_cast<NameLoc>(decode->getLoc());
    DecoderEntry d{named ? named.getName().str() : "decoder" + std::to_string(decoders.size()),
                   decode.getMode() == "teacher"   ? "ATTN_DECODE_TEACHER"
                   : decode.getMode() == "greedy"  ? "ATTN_DECODE_GREEDY"
                   : decode.getMode() == "reverse" ? "ATTN_DECODE_REVERSE"
                                                   : "ATTN_DECODE_BEAM",
                   int64_t(decode.getStart()), int64_t(decode.getStop()), int64_t(decode.getPad()),
                   int64_t(decode.getMaxLen()), int64_t(decode.getWidth()),
                   decode.getLengthPenalty().convertToFloat()};
    if (decode.isReverse())
      d.name += ".backward";
    Value first = decode.getInit().front();
    std::string batchSymbol = symbolOf(first, 0);
    d.token = addStepValue(decode.getTokenArgument(), d.name + ".token", "rows");
    if (BlockArgument position = decode.getPositionArgument())
      d.position = addStepValue(position, d.name + ".position", "rows");
    for (auto [init, arg] : llvm::zip(decode.getInit(), decode.getStateArguments())) {
      d.stateInit.push_back(index.lookup(init));
      std::string name = d.name + ".state" + std::to_string(d.stateIn.size());
      // A reverse loop's state (gradient accumulators) keeps the shape of its initial value.
      d.stateIn.push_back(decode.isReverse()
                              ? addValue(arg, {name, "ATTN_ROLE_STEP", "ATTN_F32", shapeOf(init)})
                              : addStepValue(arg, name, "rows", init));
      d.stateRows.push_back(!decode.isReverse() || isBatched(init, decode.getTeacher()));
    }
    d.splitRows = splitRows && !decode.isSearch();
    for (auto [seq, arg] : llvm::zip(decode.getSequences(), decode.getSequenceArguments())) {
      d.sequences.push_back(index.lookup(seq));
      ValueEntry view{d.name + ".sequence" + std::to_string(d.sequenceViews.size()),
                      "ATTN_ROLE_STEP",
                      "ATTN_F32",
                      {DimEntry{-1, "rows", -1, 0}}};
      auto type = cast<RankedTensorType>(seq.getType());
      for (int64_t k = 2; k < type.getRank(); ++k)
        view.dims.push_back(type.isDynamicDim(k) ? DimEntry{-1, "", index.lookup(seq), int(k)}
                                                 : DimEntry{type.getDimSize(k), "", -1, 0});
      d.sequenceViews.push_back(addValue(arg, std::move(view)));
    }
    if (Value teacher = decode.getTeacher())
      d.teacher = index.lookup(teacher);

    // Outer values whose first dimension is the batch are read row by row, through a view of N rows.
    Block &body = decode.getStep().front();
    for (Operation &op : body)
      for (Value operand : op.getOperands()) {
        if (decode.getStep().isAncestor(operand.getParentRegion()) || views.count(operand) ||
            operand.getDefiningOp<ParamOp>() || cast<RankedTensorType>(operand.getType()).getRank() == 0)
          continue;
        if (!isBatched(operand, first))
          continue;
        d.captures.push_back(index.lookup(operand));
        d.views.push_back(static_cast<int>(values.size()));
        ValueEntry view{
            d.name + ".view" + std::to_string(d.views.size() - 1), "ATTN_ROLE_STEP", dtypeOf(operand), {}};
        auto type = cast<RankedTensorType>(operand.getType());
        for (int64_t k = 0; k < type.getRank(); ++k)
          view.dims.push_back(k == 0 ? DimEntry{-1, "rows", -1, 0}
                              : type.isDynamicDim(k) ? DimEntry{-1, "", index.lookup(operand), int(k)}
                                                     : DimEntry{type.getDimSize(k), "", -1, 0});
        views[operand] = static_cast<int>(values.size());
        values.push_back(std::move(view));
      }

    d.firstKernel = kernels.size();
    for (Operation &op : body) {
      if (auto param = dyn_cast<ParamOp>(op)) {
        addParam(param);
      } else if (auto kernel = dyn_cast<KernelOp>(op)) {
        if (failed(addKernel(kernel)))
          return failure();
      } else if (auto yield = dyn_cast<DecodeYieldOp>(op)) {
        for (auto [what, list, vals] : {std::tuple{"next state", &d.stateOut, yield.getStates()},
                                        std::tuple{"emitted value", &d.emits, yield.getEmits()}})
          for (Value v : vals) {
            if (!decode.getStep().isAncestor(v.getParentRegion()))
              return yield.emitOpError() << "yields a " << what
                                         << " computed outside the step; it would not change between steps";
            list->push_back(indexOf(v));
          }
      } else {
        return op.emitOpError(
            "is outside any attn.kernel inside a decoder step; run attn-outline-kernels first");
      }
    }
    d.numKernels = kernels.size() - d.firstKernel;
    views.clear();

    size_t numStates = decode.getInit().size();
    for (auto [i, result] : llvm::enumerate(decode.getResults())) {
      if (decode.isReverse() && i < numStates) { // the final state
        Value init = decode.getInit()[i];
        d.results.push_back(addValue(result, {d.name + "." + std::to_string(i), "ATTN_ROLE_STEP", "ATTN_F32",
                                              shapeOf(init)}));
        continue;
      }
      std::string steps = decode.getTeacher() ? symbolOf(decode.getTeacher(), 1) : "steps";
      auto type = cast<RankedTensorType>(result.getType());
      ValueEntry entry{d.name + "." + std::to_string(i), "ATTN_ROLE_STEP", dtypeOf(result), {}};
      // The emitted value this result stacks (unused for the tokens); a reverse loop's follow its state.
      Value emit = decode.getYield().getEmits()[decode.isReverse() ? i - numStates : i];
      for (int64_t k = 0; k < type.getRank(); ++k)
        entry.dims.push_back(k == 0   ? DimEntry{-1, batchSymbol, -1, 0}
                             : k == 1 ? DimEntry{-1, steps, -1, 0}
                             : type.isDynamicDim(k) ? DimEntry{-1, symbolOf(emit, k - 1), -1, 0}
                                                    : DimEntry{type.getDimSize(k), "", -1, 0});
      d.results.push_back(addValue(result, std::move(entry)));
    }
    decoders.push_back(std::move(d));
    return success();
  }

  /// The dimensions of `v`: static sizes, dynamic ones copied from `v` when it runs.
  std::vector<DimEntry> shapeOf(Value v) {
    std::vector<DimEntry> dims;
    auto type = cast<RankedTensorType>(v.getType());
    for (int64_t k = 0; k < type.getRank(); ++k)
      dims.push_back(type.isDynamicDim(k) ? DimEntry{-1, "", index.lookup(v), int(k)}
                                          : DimEntry{type.getDimSize(k), "", -1, 0});
    return dims;
  }

  int addValue(Value v, ValueEntry entry) {
    auto type = cast<RankedTensorType>(v.getType());
    if (entry.dims.empty())
      for (int64_t d : type.getShape())
        entry.dims.push_back({ShapedType::isDynamic(d) ? -1 : d, "", -1, 0});
    index[v] = values.size();
    values.push_back(std::move(entry));
    return index[v];
  }

  LogicalResult addInput(BlockArgument arg) {
    auto type = cast<RankedTensorType>(arg.getType());
    unsigned n = arg.getArgNumber();
    auto name = func.getArgAttrOfType<StringAttr>(n, AttnDialect::kInputNameAttr);
    auto dims = func.getArgAttrOfType<ArrayAttr>(n, AttnDialect::kInputDimsAttr);
    ValueEntry entry{name ? name.str() : "arg" + std::to_string(n), "ATTN_ROLE_INPUT",
                     type.getElementType().isF32() ? "ATTN_F32" : "ATTN_I32", {}};
    if (auto vocab = func.getArgAttrOfType<IntegerAttr>(n, AttnDialect::kVocabSizeAttr))
      entry.vocabSize = vocab.getInt();
    entry.vocab = vocabTokens(func.getArgAttrOfType<ArrayAttr>(n, AttnDialect::kVocabAttr));
    if (auto classes = func.getArgAttrOfType<IntegerAttr>(n, AttnDialect::kClassesAttr))
      entry.classes = classes.getInt();
    if (auto ignore = func.getArgAttrOfType<IntegerAttr>(n, AttnDialect::kIgnoreIdAttr))
      entry.ignoreId = ignore.getInt();
    if (auto stop = func.getArgAttrOfType<IntegerAttr>(n, AttnDialect::kTeacherStopAttr))
      entry.teacherStop = stop.getInt();
    if (Attribute length = func.getArgAttr(n, AttnDialect::kMaxLengthAttr)) {
      if (auto size = dyn_cast<IntegerAttr>(length))
        entry.maxLength = size.getInt();
      else
        entry.maxLengthDim = cast<StringAttr>(length).str();
    }
    for (int64_t d = 0; d < type.getRank(); ++d) {
      DimEntry dim;
      if (!type.isDynamicDim(d)) {
        dim.size = type.getDimSize(d);
      } else if (dims && d < static_cast<int64_t>(dims.size()) && isa<StringAttr>(dims[d])) {
        dim.symbol = cast<StringAttr>(dims[d]).str();
      } else {
        dim.symbol = entry.name + ".dim" + std::to_string(d);
      }
      entry.dims.push_back(dim);
    }
    addValue(arg, std::move(entry));
    return success();
  }

  /// Finds the earlier value and dimension that dimension `dim` of `v` (inside or outside a kernel) equals.
  std::pair<Value, unsigned> trace(Value v, unsigned dim) {
    return traceDimension(v, dim, [&](Value value) { return views.count(value) != 0; });
  }

  LogicalResult addKernel(KernelOp kernel) {
    KernelEntry entry{
        kernel.getName().str(), kernel.getEntryName(), {}, (int)kernel.getNumResults(), kernelFlops(kernel)};
    for (Value input : kernel.getInputs())
      entry.args.push_back(indexOf(input));
    for (OpResult result : kernel.getResults()) {
      auto type = cast<RankedTensorType>(result.getType());
      ValueEntry value{kernel.getName().str() + "." + std::to_string(result.getResultNumber()),
                       "ATTN_ROLE_TEMP",
                       dtypeOf(result),
                       {}};
      for (int64_t d = 0; d < type.getRank(); ++d) {
        DimEntry dim;
        if (!type.isDynamicDim(d)) {
          dim.size = type.getDimSize(d);
        } else {
          auto [src, srcDim] = trace(result, d);
          if (!views.count(src) && !index.count(src))
            return kernel.emitError() << "cannot trace dimension " << d << " of result "
                                      << result.getResultNumber() << " to an earlier value";
          dim.srcValue = indexOf(src);
          dim.srcDim = srcDim;
        }
        value.dims.push_back(dim);
      }
      entry.args.push_back(addValue(result, std::move(value)));
    }
    kernels.push_back(std::move(entry));
    return success();
  }

  /// An attn.all_sum: a kernel entry without a pipeline, its result shaped as its operand.
  void addAllSum(AllSumOp sum) {
    std::string name = "all_sum" + std::to_string(kernels.size());
    KernelEntry entry{name, "", {indexOf(sum.getInput())}, 1, std::nullopt, sum.getCotangent() ? 2 : 1};
    auto type = cast<RankedTensorType>(sum.getType());
    ValueEntry value{name + ".0", "ATTN_ROLE_TEMP", "ATTN_F32", {}};
    for (int64_t d = 0; d < type.getRank(); ++d) {
      DimEntry dim;
      if (type.isDynamicDim(d)) {
        dim.srcValue = entry.args[0];
        dim.srcDim = d;
      } else {
        dim.size = type.getDimSize(d);
      }
      value.dims.push_back(dim);
    }
    entry.args.push_back(addValue(sum.getResult(), std::move(value)));
    kernels.push_back(std::move(entry));
  }

  LogicalResult addOutputs(func::ReturnOp ret) {
    auto names = func->getAttrOfType<ArrayAttr>(AttnDialect::kOutputNamesAttr);
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      std::string name = names && i < names.size() && isa<StringAttr>(names[i])
                             ? cast<StringAttr>(names[i]).str()
                             : "output" + std::to_string(i);
      if (!v.getDefiningOp<KernelOp>() && !v.getDefiningOp<DecodeOp>())
        return ret.emitOpError() << "returns '" << name
                                 << "', which no kernel computes: an output must be the result of a layer";
      outputs.emplace_back(name, index.lookup(v));
      if (auto tokens = func.getResultAttrOfType<ArrayAttr>(i, AttnDialect::kVocabAttr))
        values[index.lookup(v)].vocab = vocabTokens(tokens);
      if (auto ids = func.getResultAttrOfType<IntegerAttr>(i, AttnDialect::kVocabSizeAttr))
        values[index.lookup(v)].vocabSize = ids.getInt();
    }
    return success();
  }

  func::FuncOp func;
  bool splitRows;
  llvm::DenseMap<Value, int> index;
  llvm::DenseMap<Value, int> views; // while a decoder is emitted: its batched captures' views
  llvm::StringMap<int> paramIndex;
  std::vector<ValueEntry> values;
  std::vector<KernelEntry> kernels;
  std::vector<DecoderEntry> decoders;
  std::vector<int> steps;
  std::vector<std::pair<std::string, int>> outputs;
};

} // namespace

LogicalResult mlir::attn::emitModelSpec(ModuleOp module, const ModelSpecInfo &info, llvm::raw_ostream &os) {
  auto model = cast<func::FuncOp>(module.getBody()->front());
  func::FuncOp grad = module.lookupSymbol<func::FuncOp>((model.getName() + "_grad").str());
  os << "/* Generated by attnc from " << info.sourceFile << ". Do not edit. */\n"
     << "#include \"attn/Runtime/ModelSpec.h\"\n\n";
  int lossTargets = -1;
  if (grad) {
    SpecBuilder builder(grad, info.splitRows);
    if (failed(builder.build()))
      return failure();
    builder.print(info, os, "grad_", "", "");
    lossTargets = builder.lossTargets();
  }
  std::string training;
  if (auto settings = model->getAttrOfType<DictionaryAttr>(AttnDialect::kTrainAttr); settings && grad) {
    auto number = [&](StringRef key) {
      auto f = settings.getAs<FloatAttr>(key);
      return llvm::formatv("{0:e}", f ? f.getValueAsDouble() : 0.0).str() + "f";
    };
    auto kind = settings.getAs<StringAttr>("optimizer");
    StringRef optimizer = kind ? kind.getValue() : "adam";
    os << "extern int attn_update_adam_argv(void **args);\n"
       << "extern int attn_update_sgd_argv(void **args);\n"
       << "extern int attn_sum_squares_argv(void **args);\n"
       << "extern int attn_update_average_argv(void **args);\n"
       << "static const attn_training training = {"
       << (optimizer == "sgd"     ? "ATTN_SGD"
           : optimizer == "adamw" ? "ATTN_ADAMW"
                                  : "ATTN_ADAM");
    for (StringRef key : {"lr", "beta1", "beta2", "eps", "weight_decay", "momentum", "clip_norm", "ema"})
      os << ", " << number(key);
    auto integer = [&](StringRef key) {
      auto i = settings.getAs<IntegerAttr>(key);
      return i ? i.getInt() : 0;
    };
    auto lrSchedule = settings.getAs<StringAttr>("lr_schedule");
    StringRef kindName = lrSchedule ? lrSchedule.getValue() : "constant";
    os << ", "
       << (kindName == "step" ? "ATTN_LR_STEP" : kindName == "cosine" ? "ATTN_LR_COSINE" : "ATTN_LR_CONSTANT")
       << ", " << integer("warmup") << ", " << integer("every") << ", " << integer("total") << ", "
       << number("gamma") << ", " << number("min_lr");
    os << ", attn_update_adam_argv, attn_update_sgd_argv, attn_sum_squares_argv, attn_update_average_argv, "
       << lossTargets << "};\n\n";
    training = "training";
  }
  SpecBuilder builder(model, info.splitRows);
  if (failed(builder.build()))
    return failure();
  builder.print(info, os, "", grad ? "grad_model" : "", training);
  os << "int main(int argc, char **argv) { return " << (info.distributed ? "attn_main_mpi" : "attn_main")
     << "(&model, argc, argv); }\n";
  return success();
}
