// Fuzz target: a schedule file (`attnc --schedule FILE`) through its parser: `kernel NAME` sections of
// Halide scheduling calls. Every input must parse or give an error at a line and column inside the text.
#include "Lowering.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  auto parsed = mlir::attn::halide::parseSchedules(text);
  if (auto *error = std::get_if<mlir::attn::halide::ScheduleError>(&parsed)) {
    if (error->message.empty() || error->line > text.count('\n') + 1)
      std::abort();
  }
  return 0;
}
