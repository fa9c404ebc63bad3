// Vocabulary files named by `vocab "..."` on token inputs and outputs: reading one into the token list the
// program carries, and checking that an input's vocabulary fits the embedding that reads it.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnDialect.h"
#include "attn/Runtime/VocabFile.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

namespace attn::gen {

/// The tokens of a vocabulary file (a path relative to the model file's directory), read by the reader
/// generated programs use for `--vocab`, so both accept and reject the same files; or nothing after
/// reporting why not.
std::optional<mlir::ArrayAttr> MLIRGenImpl::readVocab(const VocabRef &ref) {
  llvm::SmallString<256> path(ref.path);
  if (!llvm::sys::path::is_absolute(path)) {
    path = llvm::sys::path::parent_path(model.file);
    llvm::sys::path::append(path, ref.path);
  }
  attn::rt::Expected<std::vector<std::string>> read = attn::rt::readVocabFile(path.str().str());
  if (!read) {
    error(ref.loc) << read.message();
    return std::nullopt;
  }
  std::vector<mlir::Attribute> tokens;
  for (const std::string &token : *read)
    tokens.push_back(builder.getStringAttr(token));
  return builder.getArrayAttr(tokens);
}

/// An input's vocabulary may not hold more tokens than the embedding that reads the input has rows.
void MLIRGenImpl::checkVocabSizes() {
  for (auto [arg, at] : inputVocabLocs) {
    mlir::Attribute tokens, size, name;
    for (auto [key, value] : inputAttrs[arg]) {
      if (key == mlir::attn::AttnDialect::kVocabAttr)
        tokens = value;
      else if (key == mlir::attn::AttnDialect::kVocabSizeAttr)
        size = value;
      else if (key == mlir::attn::AttnDialect::kInputNameAttr)
        name = value;
    }
    if (!tokens || !size)
      continue;
    size_t count = llvm::cast<mlir::ArrayAttr>(tokens).size();
    int64_t rows = llvm::cast<mlir::IntegerAttr>(size).getInt();
    if (static_cast<int64_t>(count) > rows)
      error(at) << "the vocabulary has " << count << " tokens, but the embedding of input '"
                << llvm::cast<mlir::StringAttr>(name).str() << "' has " << rows << " rows (ids 0.."
                << rows - 1 << ")";
  }
}

} // namespace attn::gen
