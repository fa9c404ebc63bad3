// Vocabulary files: one token per line, line n holding the token of id n - 1. attnc reads them to embed a
// model's vocabularies in the program, and generated programs read them for `--vocab`; both use this
// reader, so a file means the same everywhere and is rejected for the same reasons. It is plain C++ with
// no LLVM, since the runtime that programs link has none.
#ifndef ATTN_RUNTIME_VOCABFILE_H
#define ATTN_RUNTIME_VOCABFILE_H

#include "attn/Runtime/Error.h"

#include <string>
#include <vector>

namespace attn::rt {

/// The tokens of the vocabulary file at `path`, in id order. The text is split at '\n'; a '\n' at the very
/// end closes the last line rather than starting an empty one, and one '\r' at the end of a line belongs to
/// the line break, so CRLF files read as LF files. Errors name the file and, where one is to blame, the
/// line: an empty line, a token with white space around it, a token on two lines (both are named), a file
/// with no bytes, or a file that cannot be read.
Expected<std::vector<std::string>> readVocabFile(const std::string &path);

} // namespace attn::rt

#endif // ATTN_RUNTIME_VOCABFILE_H
