// The tuning database: tuned knobs filed by kernel structure, target, CPU and sizes, in a file of JSON lines.
#include "Tuning.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <fstream>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// Rounds `n` up to a power of two: sizes within a factor of two share tuned schedules.
int64_t sizeClass(int64_t n) {
  int64_t c = 1;
  while (c < n)
    c *= 2;
  return c;
}

std::string fingerprint(KernelOp kernel) {
  std::string text;
  llvm::raw_string_ostream os(text);
  kernel->print(os, OpPrintingFlags().printGenericOpForm().useLocalScope());
  // The kernel's own names (symbol, entry point) say where it is, not what it computes.
  for (std::string name : {kernel.getName().str(), kernel.getEntryName()})
    for (size_t at; !name.empty() && (at = text.find('"' + name + '"')) != std::string::npos;)
      text.erase(at, name.size() + 2);
  return llvm::utohexstr(llvm::xxh3_64bits(text), /*LowerCase=*/true, /*Width=*/16);
}

/// How far apart two size classes are: the sum of the log2 ratios of their sizes.
double distance(const std::vector<int64_t> &a, const std::vector<int64_t> &b) {
  double d = 0;
  for (auto [x, y] : llvm::zip(a, b))
    d += std::fabs(std::log2(double(x)) - std::log2(double(y)));
  return d;
}

llvm::json::Value toJson(const TuningRecord &r) {
  llvm::json::Object knobs;
  for (const auto &[name, value] : r.knobs)
    knobs[name] = value;
  return llvm::json::Object{{"fingerprint", r.key.fingerprint},
                            {"target", r.key.target},
                            {"cpu", r.key.cpu},
                            {"shape", llvm::json::Array(r.key.shape)},
                            {"kernel", r.kernel},
                            {"pattern", r.pattern},
                            {"model", r.model},
                            {"knobs", std::move(knobs)},
                            {"hand_seconds", r.handSeconds},
                            {"tuned_seconds", r.tunedSeconds}};
}

bool fromJson(const llvm::json::Value &value, TuningRecord &r, llvm::json::Path path) {
  llvm::json::ObjectMapper o(value, path);
  const llvm::json::Object *knobs = value.getAsObject() ? value.getAsObject()->getObject("knobs") : nullptr;
  if (!o || !o.map("fingerprint", r.key.fingerprint) || !o.map("target", r.key.target) ||
      !o.map("cpu", r.key.cpu) || !o.map("shape", r.key.shape) || !o.mapOptional("kernel", r.kernel) ||
      !o.mapOptional("pattern", r.pattern) || !o.mapOptional("model", r.model) ||
      !o.mapOptional("hand_seconds", r.handSeconds) || !o.mapOptional("tuned_seconds", r.tunedSeconds))
    return false;
  if (!knobs) {
    path.field("knobs").report("expected an object of knob values");
    return false;
  }
  for (const auto &[name, v] : *knobs) {
    std::optional<int64_t> n = v.getAsInteger();
    if (!n) {
      path.field("knobs").field(name).report("expected a whole number");
      return false;
    }
    r.knobs[name.str()] = static_cast<int>(*n);
  }
  return true;
}

bool sameKernel(const TuningKey &a, const TuningKey &b) {
  return a.fingerprint == b.fingerprint && a.target == b.target && a.cpu == b.cpu &&
         a.shape.size() == b.shape.size();
}

} // namespace

std::string mlir::attn::defaultTuningDb() {
  llvm::SmallString<256> path;
  if (const char *cache = std::getenv("XDG_CACHE_HOME"); cache && *cache)
    path = cache;
  else if (const char *home = std::getenv("HOME"); home && *home)
    llvm::sys::path::append(path, home, ".cache");
  else
    return "";
  llvm::sys::path::append(path, "attnc", "tuning.jsonl");
  return path.str().str();
}

TuningKey mlir::attn::halide::tuningKey(KernelOp kernel, const Halide::Target &target,
                                        const ScheduleOptions &options) {
  TuningKey key{fingerprint(kernel), target.to_string(), hostCpu(), {}};
  for (Value input : kernel.getInputs()) {
    auto type = cast<RankedTensorType>(input.getType());
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        key.shape.push_back(sizeClass(estimatedExtent(input, d, options)));
  }
  return key;
}

std::string mlir::attn::halide::hostCpu() {
  static const std::string cpu = [] {
    std::ifstream info("/proc/cpuinfo");
    std::string line, name = "unknown CPU", family = "?", model = "?";
    while (std::getline(info, line) && !line.empty()) {
      auto [field, value] = llvm::StringRef(line).split(':');
      field = field.trim(), value = value.trim();
      if (field == "model name")
        name = value.str();
      else if (field == "cpu family")
        family = value.str();
      else if (field == "model")
        model = value.str();
    }
    int64_t l2 = MachineParams::of(Halide::get_host_target()).l2Bytes;
    return name + " (family " + family + ", model " + model + ", L2 " + std::to_string(l2 >> 10) + " KiB)";
  }();
  return cpu;
}

FailureOr<TuningDb> TuningDb::load(MLIRContext *context, StringRef path) {
  TuningDb db;
  db.path = path.str();
  auto at = [&](unsigned line) { return emitError(FileLineColLoc::get(context, path, line, 1)); };
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    if (buffer.getError() == std::errc::no_such_file_or_directory)
      return db;
    return emitError(FileLineColLoc::get(context, path, 0, 0))
           << "cannot read the tuning database: " << buffer.getError().message();
  }
  llvm::SmallVector<llvm::StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n');
  for (auto [index, line] : llvm::enumerate(lines)) {
    if (line.trim().empty())
      continue;
    unsigned number = static_cast<unsigned>(index + 1);
    llvm::Expected<llvm::json::Value> value = llvm::json::parse(line);
    if (!value)
      return at(number) << "not a JSON record of the tuning database: " << llvm::toString(value.takeError());
    TuningRecord record;
    llvm::json::Path::Root root("record");
    if (!fromJson(*value, record, root))
      return at(number) << "not a tuning record: " << llvm::toString(root.getError());
    db.put(std::move(record));
  }
  return db;
}

const TuningRecord *TuningDb::find(const TuningKey &key) const {
  const TuningRecord *best = nullptr;
  for (const TuningRecord &r : records)
    if (sameKernel(r.key, key) &&
        (!best || distance(r.key.shape, key.shape) < distance(best->key.shape, key.shape)))
      best = &r;
  return best;
}

void TuningDb::put(TuningRecord record) {
  for (TuningRecord &r : records)
    if (sameKernel(r.key, record.key) && r.key.shape == record.key.shape) {
      r = std::move(record);
      return;
    }
  records.push_back(std::move(record));
}

LogicalResult TuningDb::save(std::string &error) const {
  llvm::SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  if (!dir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(dir)) {
      error = "cannot create '" + dir.str().str() + "': " + ec.message();
      return failure();
    }
  llvm::SmallString<256> temporary;
  int fd = -1;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(path + ".%%%%%%.tmp", fd, temporary)) {
    error = "cannot write tuning database '" + path + "': " + ec.message();
    return failure();
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    for (const TuningRecord &r : records)
      os << toJson(r) << "\n";
    os.close();
    if (os.has_error()) {
      error = "cannot write tuning database '" + path + "': " + os.error().message();
      os.clear_error();
      llvm::sys::fs::remove(temporary);
      return failure();
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(temporary, path)) {
    error = "cannot write tuning database '" + path + "': " + ec.message();
    llvm::sys::fs::remove(temporary);
    return failure();
  }
  return success();
}
