// Vocabulary files named by `vocab "..."` on token inputs and outputs: reading one into the token list the
// program carries, and checking that an input's vocabulary fits the embedding that reads it.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnDialect.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

namespace attn::gen {

/// The tokens of a vocabulary file (one per line, line n for id n; a path relative to the model file's
/// directory), or nothing after reporting why not.
std::optional<mlir::ArrayAttr> MLIRGenImpl::readVocab(const VocabRef &ref) {
  llvm::SmallString<256> path(ref.path);
  if (!llvm::sys::path::is_absolute(path)) {
    path = llvm::sys::path::parent_path(model.file);
    llvm::sys::path::append(path, ref.path);
  }
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    error(ref.loc) << "cannot read vocabulary file '" << path << "': " << buffer.getError().message();
    return std::nullopt;
  }
  llvm::SmallVector<llvm::StringRef> lines;
  llvm::StringRef text = (*buffer)->getBuffer();
  text.consume_back("\n");
  text.split(lines, '\n');
  std::vector<mlir::Attribute> tokens;
  llvm::StringMap<size_t> seen;
  for (auto [i, line] : llvm::enumerate(lines)) {
    line.consume_back("\r");
    if (line.empty() || line.trim() != line) {
      error(ref.loc) << "line " << i + 1 << " of vocabulary file '" << path << "' "
                     << (line.empty() ? "is empty" : "has spaces around its token")
                     << ": expected one token per line, line n holding the token of id n - 1";
      return std::nullopt;
    }
    if (auto [it, inserted] = seen.try_emplace(line, i + 1); !inserted) {
      error(ref.loc) << "token '" << line << "' appears twice in vocabulary file '" << path << "', on lines "
                     << it->second << " and " << i + 1;
      return std::nullopt;
    }
    tokens.push_back(builder.getStringAttr(line));
  }
  if (tokens.empty()) {
    error(ref.loc) << "vocabulary file '" << path << "' is empty";
    return std::nullopt;
  }
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
