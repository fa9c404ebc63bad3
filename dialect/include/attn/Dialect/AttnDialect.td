//===- AttnDialect.td - the attn dialect -------------------------------*- tablegen -*-===//
//
// The attn dialect holds attention networks at three levels: layer ops that mirror the model language,
// primitive ops that layers decompose into, and kernel regions that fusion forms and Halide compiles.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention networks: layers, primitives and fused kernels";
  let description = [{
    Ops work on builtin ranked tensors whose dimensions may be dynamic (batch and sequence lengths stay
    dynamic until run time). Parameters are named `attn.param` values whose names are the keys of the
    weight file. See docs/dialect.md.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
  let extraClassDeclaration = [{
    /// On a model function's arguments: the input's name in the model file.
    static constexpr ::llvm::StringLiteral kInputNameAttr = "attn.name";
    /// On a model function's arguments: each dimension's symbol ("B") or static size.
    static constexpr ::llvm::StringLiteral kInputDimsAttr = "attn.dims";
    /// On a model function's i32 arguments used as token ids: the smallest vocabulary they index. On its
    /// results of searched token ids: how many ids the search picks from.
    static constexpr ::llvm::StringLiteral kVocabSizeAttr = "attn.vocab_size";
    /// On a model function's i32 arguments used as class labels (cross_entropy targets): the smallest
    /// class count they index.
    static constexpr ::llvm::StringLiteral kClassesAttr = "attn.classes";
    /// On a model function's i32 arguments used as class labels: the label cross_entropy skips, which
    /// may lie outside the classes.
    static constexpr ::llvm::StringLiteral kIgnoreIdAttr = "attn.ignore_id";
    /// On a model function's i32 arguments used as sequence lengths: the longest length, an integer or
    /// the symbol of the dimension it counts steps of (a string).
    static constexpr ::llvm::StringLiteral kMaxLengthAttr = "attn.max_length";
    /// On a model function's i32 arguments that a decoder is teacher-forced with: the stop token that
    /// ends each target sequence (data read from text gets it appended).
    static constexpr ::llvm::StringLiteral kTeacherStopAttr = "attn.teacher_stop";
    /// On a model function's i32 arguments and results: the vocabulary's tokens, token n for id n.
    static constexpr ::llvm::StringLiteral kVocabAttr = "attn.vocab";
    /// On a model function: the name of the output that training minimizes.
    static constexpr ::llvm::StringLiteral kLossAttr = "attn.loss";
    /// On a model function whose loss is its last result only so that attn-autodiff finds it (the model
    /// does not output it): attn-autodiff removes that result once the gradient function exists.
    static constexpr ::llvm::StringLiteral kInternalLossAttr = "attn.internal_loss";
    /// On a model function that trains: its optimizer ("sgd", "adam", "adamw"), hyperparameters and
    /// clip_norm.
    static constexpr ::llvm::StringLiteral kTrainAttr = "attn.train";
    /// On a gradient function made by attn-autodiff: the name of the model function it differentiates.
    static constexpr ::llvm::StringLiteral kGradOfAttr = "attn.grad_of";
    /// On a model function: the name of each result, in order.
    static constexpr ::llvm::StringLiteral kOutputNamesAttr = "attn.outputs";
  }];
}

class Attn_Op<string mnemonic, list<Trait> traits = []> : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_TD
