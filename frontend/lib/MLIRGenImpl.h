// The frontend's semantic pass, declared once for the files that define it: the symbolic shapes and
// compile-time values it computes with, the layer signatures it binds calls against, and the private class
// MLIRGenImpl whose methods live in one file per concept (MLIRGen.cpp drives statements and names,
// Shapes.cpp evaluates constants and shapes, LayerTable.cpp binds arguments, Gen*.cpp emit the layer
// families, the decoders, the training settings and the blocks, Vocabularies.cpp reads vocabulary files).
#ifndef ATTN_FRONTEND_LIB_MLIRGENIMPL_H
#define ATTN_FRONTEND_LIB_MLIRGENIMPL_H

#include "attn/Frontend/AST.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace attn::gen {

using namespace attn::ast;
using llvm::StringRef;

/// What a model may declare (docs/language.md, "Limits"). A size is a constant dimension or a size
/// argument (units, channels, kernel, ...). A tensor's constant dimensions may multiply to at most
/// kMaxElements: 2 GiB of f32, the largest buffer a kernel with 32-bit indexing can allocate. Recurrent
/// layers are unrolled when the model is compiled, so their count is bounded too.
constexpr int64_t kMaxSize = int64_t(1) << 24;
constexpr int64_t kMaxElements = int64_t(1) << 29;
constexpr int64_t kMaxLayers = 256;

/// One dimension of a symbolic shape: a static size or a dimension symbol.
struct SymDim {
  int64_t size = -1;
  std::string symbol;
  bool operator==(const SymDim &o) const { return size == o.size && symbol == o.symbol; }
  std::string str() const { return symbol.empty() ? std::to_string(size) : symbol; }
};
using SymShape = std::vector<SymDim>;

/// A shape as diagnostics print it: `[B, S, 64]`.
std::string str(const SymShape &shape);

/// A tensor in scope: its IR value, symbolic shape and element type.
struct Tensor {
  mlir::Value value;
  SymShape shape;
  bool isI32 = false;
  bool isInput = false;
  std::string name;
  /// A decoder's key/value cache [B, L, ...] (in a step of a search), or the rows appended to it
  /// [B, T, ...] (teacher forcing run over all steps at once); only attention, append and blocks read it.
  bool isCache = false;
};

/// A number as diagnostics print it (`%g`).
std::string str(double value);

/// A compile-time number.
struct Number {
  double value;
  bool isInteger;
};

/// The kinds of argument a layer takes.
enum class ArgKind { Tensor, Int, Float, Bool, String, List };

struct ParamSpec {
  const char *name;
  ArgKind kind;
  bool required;
};

struct LayerSpec {
  const char *name;
  std::vector<ParamSpec> params;
  const char *usage;
};

/// The signature of every built-in layer, in the order `knownLayers` lists them.
const std::vector<LayerSpec> &layers();

/// The bound arguments of one call, by parameter name.
struct BoundArgs {
  llvm::StringMap<const Expr *> exprs;
  llvm::StringMap<Location> locs;
  const Expr *get(StringRef name) const { return exprs.lookup(name); }
};

class MLIRGenImpl {
public:
  MLIRGenImpl(mlir::MLIRContext &context, const Model &model)
      : context(context), builder(&context), model(model),
        file(mlir::StringAttr::get(&context, model.file)) {}

  mlir::OwningOpRef<mlir::ModuleOp> run();

private:
  /// A decoder statement, checked: its carried states' initial values, computed once.
  struct DecoderInfo {
    const DecoderStmt *stmt;
    std::vector<Tensor> init; // the carried states' initial values
    bool ok;
    std::set<std::string> visible; // names declared before the decoder statement
    bool caches = false;           // it carries key/value caches (then only those)
  };

  /// Sets one training setting, replacing an earlier value of the same key.
  using SetSetting = llvm::function_ref<void(StringRef key, mlir::Attribute value)>;

  /// A scope of its own for an expanded block or a decoder step: only the declarations `keep` accepts stay
  /// visible, and layers name their parameters under `prefix`. The enclosing statement's names and state
  /// come back when it ends.
  class NestedScope {
  public:
    NestedScope(MLIRGenImpl &gen, llvm::function_ref<bool(StringRef name, StringRef kind)> keep,
                std::string prefix);
    ~NestedScope();
    NestedScope(const NestedScope &) = delete;
    NestedScope &operator=(const NestedScope &) = delete;

  private:
    MLIRGenImpl &gen;
    llvm::StringMap<Tensor> tensors;
    llvm::StringMap<std::pair<std::string, Location>> declared;
    llvm::StringSet<> poisoned;
    std::string binding, prefix;
    llvm::StringMap<unsigned> counts;
    size_t wanted;
  };

  //===--------------------------------------------------------------------===//
  // Diagnostics, names and statements (MLIRGen.cpp)
  //===--------------------------------------------------------------------===//

  mlir::Location loc(const Location &l);
  mlir::InFlightDiagnostic error(const Location &l);
  mlir::InFlightDiagnostic error(mlir::Location l); // at an op built already
  void checkTensorSizes();
  /// Records on model input `v` (nothing for a computed tensor) a bound `key` on its values, keeping the
  /// smaller of two integer bounds. `maxLength` bounds lengths by the steps of dimension `steps`.
  void boundInput(mlir::Value v, StringRef key, mlir::Attribute bound);
  void boundLengths(mlir::Value v, const SymDim &steps);
  std::string where(const Location &l);
  bool declare(const Name &name, StringRef what);
  std::string describeName(StringRef name);
  void genStmt(const Stmt &stmt);
  void genInput(const InputStmt &s);
  void genAssign(const AssignStmt &s);
  std::optional<std::vector<Tensor>> genResults(const Expr &e, size_t count);
  void genOutput(const OutputStmt &s);
  std::optional<Tensor> genTensor(const Expr &e, bool topLevel, StringRef what);
  std::optional<Tensor> genCall(const CallExpr &call, bool topLevel);
  std::string paramPrefix(StringRef layer, bool topLevel);
  mlir::Location opLoc(const Expr &e);
  mlir::Value param(const std::string &name, std::vector<int64_t> shape, mlir::Location l,
                    llvm::StringRef init = {});

  //===--------------------------------------------------------------------===//
  // Compile-time values and symbolic shapes (Shapes.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<Number> evalNumber(const Expr &e);
  /// Whether `e` is a compile-time number (numbers and constants under + - * /), without diagnostics.
  bool isNumber(const Expr &e) const;
  std::optional<int64_t> evalInt(const Expr &e, StringRef what);
  std::optional<SymDim> evalDim(const Expr &e);
  std::optional<bool> evalBool(const Expr &e, StringRef what);
  mlir::RankedTensorType irType(const SymShape &shape);
  Tensor finish(mlir::Operation *op, const Tensor &x);
  Tensor squeeze(const Tensor &t, int64_t axis, mlir::Location at);
  bool expectF32(const Tensor &t, const Expr &e, StringRef layer, StringRef param);

  //===--------------------------------------------------------------------===//
  // Layer signatures and argument binding (LayerTable.cpp)
  //===--------------------------------------------------------------------===//

  const LayerSpec *findLayer(StringRef name);
  std::string closestLayer(StringRef name);
  std::string knownLayers();
  std::optional<BoundArgs> bind(const CallExpr &call, const LayerSpec &spec);
  std::optional<int64_t> intArg(const BoundArgs &args, StringRef name, int64_t fallback, int64_t min,
                                int64_t max = kMaxSize);
  std::optional<bool> boolArg(const BoundArgs &args, StringRef name, bool fallback);
  std::optional<int64_t> axisArg(const CallExpr &call, const BoundArgs &args, StringRef name,
                                 int64_t fallback, size_t rank);
  std::set<std::string> bindArguments(const CallExpr &call, llvm::ArrayRef<StringRef> params,
                                      llvm::function_ref<void(StringRef, const Expr &)> take);

  //===--------------------------------------------------------------------===//
  // Training settings (GenTrain.cpp)
  //===--------------------------------------------------------------------===//

  void genTrain(const TrainStmt &s);
  void genLrSchedule(const Expr &e, SetSetting set);
  void genOptimizer(const Expr &e, SetSetting set);

  //===--------------------------------------------------------------------===//
  // Vocabularies (Vocabularies.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<mlir::ArrayAttr> readVocab(const VocabRef &ref);
  void checkVocabSizes();

  //===--------------------------------------------------------------------===//
  // Decoders and recurrent cells (GenDecoder.cpp)
  //===--------------------------------------------------------------------===//

  void genDecoderStmt(const DecoderStmt &s);
  std::optional<Tensor> genDecode(const CallExpr &call, StringRef mode);
  void genStepStatements(const DecoderStmt &dec);
  std::optional<std::vector<Tensor>> stepEmits(const DecoderStmt &dec, const SymDim &batch,
                                               const SymDim *steps);
  std::optional<Tensor> genZeros(const CallExpr &call);
  std::optional<Tensor> genCell(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                const std::string &prefix);

  //===--------------------------------------------------------------------===//
  // Positions and key/value caches (GenCache.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<Tensor> genCache(const CallExpr &call);
  std::optional<Tensor> genAppend(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genPositions(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genSinusoid(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genParallelTeacher(const CallExpr &call, const DecoderInfo &info,
                                           const Tensor &teacher, int64_t start);
  bool checkParallelStep(const CallExpr &call, const LayerSpec &spec, const BoundArgs &args);
  std::optional<Tensor> cacheOperand(const Expr &e, StringRef what);
  bool isFilledCache(const Tensor &t) const;

  //===--------------------------------------------------------------------===//
  // Attention layers (GenAttention.cpp)
  //===--------------------------------------------------------------------===//

  bool sameDim(const Tensor &a, size_t i, const Tensor &b, size_t j, StringRef what, const Expr &at,
               StringRef aName, StringRef bName);
  std::optional<Tensor> genAttention(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                     const std::string &prefix, bool withWeights);
  std::optional<Tensor> genFeatureAttention(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                            const std::string &prefix, bool topLevel);

  //===--------------------------------------------------------------------===//
  // Convolutional layers (GenConv.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<Tensor> featureMap(const BoundArgs &args, StringRef layer);
  std::optional<Tensor> genConv2D(const CallExpr &call, const BoundArgs &args, const std::string &prefix);
  std::optional<Tensor> genPool(const CallExpr &call, const BoundArgs &args, StringRef kind);
  std::optional<Tensor> genGlobalPool(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genBatchNorm(const CallExpr &call, const BoundArgs &args, const std::string &prefix);
  std::optional<Tensor> genFlatten(const CallExpr &call, const BoundArgs &args);

  //===--------------------------------------------------------------------===//
  // Embeddings and recurrent layers (GenRecurrent.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<Tensor> genEmbed(const CallExpr &call, const BoundArgs &args, const std::string &prefix);
  std::optional<Tensor> genRecurrent(const CallExpr &call, const BoundArgs &args, StringRef layerName,
                                     const std::string &prefix);

  //===--------------------------------------------------------------------===//
  // Tensor operations and losses (GenTensorOps.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<Tensor> genArithmetic(const BinaryExpr &e);
  std::optional<Tensor> genOperand(const Expr &e, StringRef opName, StringRef side);
  std::optional<Tensor> rankedInput(const BoundArgs &args, StringRef layer);
  std::optional<Tensor> genUnary(const CallExpr &call, const BoundArgs &args, StringRef name);
  std::optional<Tensor> genReduce(const CallExpr &call, const BoundArgs &args, StringRef kind);
  std::optional<Tensor> genMatmul(const CallExpr &call, const BoundArgs &args);
  std::optional<SymShape> broadcastShapes(const SymShape &a, const SymShape &b, SymDim &left, SymDim &right);
  std::optional<Tensor> genExpandOrSqueeze(const CallExpr &call, const BoundArgs &args, StringRef name);
  Tensor swapAxes(const Tensor &x, int64_t a, int64_t b, mlir::Location at);
  std::optional<Tensor> genDense(const CallExpr &call, const BoundArgs &args, const std::string &prefix);
  std::optional<Tensor> genLayerNorm(const CallExpr &call, const BoundArgs &args, const std::string &prefix);
  std::optional<Tensor> genDropout(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genRandomShift(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genConcat(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genReshape(const CallExpr &call, const BoundArgs &args);
  static bool isMinusOne(const Expr &e);
  std::optional<Tensor> genTranspose(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genSplit(const CallExpr &call, const BoundArgs &args, bool topLevel);
  std::optional<Tensor> genLoss(const CallExpr &call, const BoundArgs &args, StringRef name);

  //===--------------------------------------------------------------------===//
  // Elementwise choices and selections (GenPrimitives.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<SymShape> broadcastOrError(const Tensor &a, const Tensor &b, const Expr &at, StringRef what);
  std::optional<Tensor> genPow(const CallExpr &call, const BoundArgs &args);
  mlir::Value extremum(bool max, mlir::Value a, mlir::Value b, mlir::Location l);
  std::optional<Tensor> genExtremum(const CallExpr &call, const BoundArgs &args, StringRef name);
  std::optional<Tensor> genClamp(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genWhere(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genArgmax(const CallExpr &call, const BoundArgs &args);
  std::optional<Tensor> genSlice(const CallExpr &call, const BoundArgs &args);

  //===--------------------------------------------------------------------===//
  // Blocks and declared parameters (GenBlocks.cpp)
  //===--------------------------------------------------------------------===//

  std::optional<Tensor> genBlockCall(const CallExpr &call, const BlockStmt &block, bool topLevel,
                                     const std::string &prefix);
  void genParam(const ParamStmt &s);
  void genBodyStatements(const std::vector<StmtPtr> &body, StringRef holder, StringRef end);

  //===--------------------------------------------------------------------===//
  // State
  //===--------------------------------------------------------------------===//

  mlir::MLIRContext &context;
  mlir::OpBuilder builder;
  const Model &model;
  mlir::StringAttr file;
  mlir::func::FuncOp func;
  bool failed = false;
  bool sawOutput = false;

  llvm::StringMap<std::pair<std::string, Location>> declared;
  llvm::StringSet<> dims;
  llvm::StringMap<Number> consts;
  llvm::StringMap<Tensor> tensors;
  llvm::StringSet<> poisoned;
  std::vector<std::vector<std::pair<llvm::StringRef, mlir::Attribute>>> inputAttrs;
  std::optional<Location> trainLoc;   // the `train` statement, once seen
  std::string lossName;               // its loss binding
  mlir::DictionaryAttr trainSettings; // optimizer, its hyperparameters and clip_norm
  struct Output {
    std::string name;
    mlir::Value value;
    mlir::Attribute vocab; // the tokens of a token output, or null
  };
  llvm::DenseMap<mlir::Value, int64_t> tokenCounts; // token ids a search emits → how many ids there are
  std::vector<Output> outputs;
  llvm::DenseMap<unsigned, Location> inputVocabLocs; // input argument → its `vocab` clause
  std::string binding;
  llvm::StringMap<unsigned> nestedCounts;
  size_t wantedResults = 1; // targets of the statement being generated
  std::string scopePrefix;  // "<call prefix>." inside an expanded block
  llvm::StringMap<const BlockStmt *> blocks;
  llvm::StringSet<> activeBlocks;
  std::vector<Tensor> lastResults; // every result of the last multi-result layer generated
  std::vector<Tensor> inputsInOrder;

  llvm::StringMap<DecoderInfo> decoderInfos;
  bool activeDecoder = false;           // generating a decoder step
  unsigned errors = 0;                  // reported so far
  int64_t randomStreams = 0;            // dropout and random_shift ops made so far: each has its own stream
  std::set<std::string> carriedPending; // carried states the step has not assigned yet
  mlir::Value decoderToken, decoderTeacher;
  mlir::Value decoderPosition;  // the step's position i32 [B] in a search of a decoder with caches
  bool parallelTeacher = false; // generating a decoder's steps all at once, over [B, T, ...]
  bool carriedInit = false;     // generating the initial value of a carried state (cache(...) allowed)
  bool allowCache = false;      // the next name genTensor resolves may be a cache
};

} // namespace attn::gen

#endif // ATTN_FRONTEND_LIB_MLIRGENIMPL_H
