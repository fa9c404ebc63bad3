// Schedules as text. A kernel's schedule in force is printed as Halide scheduling calls on its Funcs, one
// statement per Func or update stage, in a file of `kernel NAME` sections (attnc --emit=schedule); such a
// file is read back and its statements applied in place of the default schedule (attnc --schedule FILE).
// Printing reads Halide's schedule records (splits, loop order, loop kinds, compute and store levels), so
// it shows hand-written and autoscheduled schedules alike.
#include "Lowering.h"

#include "llvm/ADT/StringExtras.h"

#include <cctype>
#include <map>
#include <set>
#include <sstream>

using namespace mlir::attn::halide;
using Halide::Func;
using Halide::LoopLevel;
using Halide::TailStrategy;
using Halide::VarOrRVar;
using Halide::Internal::Definition;
using Halide::Internal::Dim;
using Halide::Internal::ForType;
using Halide::Internal::Function;
using Halide::Internal::Split;

namespace {

const std::pair<TailStrategy, const char *> kTails[] = {
    {TailStrategy::RoundUp, "RoundUp"},
    {TailStrategy::GuardWithIf, "GuardWithIf"},
    {TailStrategy::Predicate, "Predicate"},
    {TailStrategy::PredicateLoads, "PredicateLoads"},
    {TailStrategy::PredicateStores, "PredicateStores"},
    {TailStrategy::ShiftInwards, "ShiftInwards"},
    {TailStrategy::Auto, "Auto"},
    {TailStrategy::RoundUpAndBlend, "RoundUpAndBlend"},
    {TailStrategy::ShiftInwardsAndBlend, "ShiftInwardsAndBlend"},
};

const std::pair<Halide::MemoryType, const char *> kMemoryTypes[] = {
    {Halide::MemoryType::Auto, "Auto"},           {Halide::MemoryType::Heap, "Heap"},
    {Halide::MemoryType::Stack, "Stack"},         {Halide::MemoryType::Register, "Register"},
    {Halide::MemoryType::GPUShared, "GPUShared"}, {Halide::MemoryType::GPUTexture, "GPUTexture"},
};

/// The loop kinds a schedule file names, beside serial: `KIND(var)` on the loop.
const std::pair<ForType, const char *> kLoopKinds[] = {
    {ForType::Parallel, "parallel"},   {ForType::Vectorized, "vectorize"},  {ForType::Unrolled, "unroll"},
    {ForType::GPUBlock, "gpu_blocks"}, {ForType::GPUThread, "gpu_threads"}, {ForType::GPULane, "gpu_lanes"},
};

/// The name a user writes for a loop variable: Halide qualifies split results with their parents
/// ("x.xo.xoi"), and a suffix after the last dot names the variable unambiguously.
std::string shortName(const std::string &qualified) {
  size_t dot = qualified.rfind('.');
  return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
}

/// How a schedule file names a Func. Halide makes the name of each Func unique in the process, appending
/// `$N` to a name used before, so N depends on what the process compiled earlier (which kernels, whether an
/// autoscheduler ran); within a kernel the names are unique without it. Files are read the same way, so
/// that a file written with the suffixes still applies.
std::string fileName(const std::string &func) { return func.substr(0, func.find('$')); }

/// Whether a scheduling call names a loop level (of another Func, which other statements may create).
bool namesLoopLevel(const std::string &call) {
  return call == "compute_at" || call == "store_at" || call == "compute_with";
}

bool namesDim(const std::string &dim, const std::string &name) {
  return dim == name || (dim.size() > name.size() && llvm::StringRef(dim).ends_with("." + name));
}

/// How a statement names stage `stage` of a Func: nothing for its pure definition, else its update.
std::string stageSuffix(int stage) { return stage ? ".update(" + std::to_string(stage - 1) + ")" : ""; }

/// The loops of `f`'s stages, innermost first, that name `var`: whether it is a reduction variable.
std::optional<bool> isReductionVar(const Function &f, int stage, const std::string &var) {
  const Definition &def = stage == 0 ? f.definition() : f.update(stage - 1);
  for (const Dim &d : def.schedule().dims())
    if (namesDim(d.var, var))
      return d.is_rvar();
  return std::nullopt;
}

std::string integer(const Halide::Expr &e) {
  if (const auto *i = e.as<Halide::Internal::IntImm>())
    return std::to_string(i->value);
  throw std::runtime_error("a split factor that is not a constant (" + [&] {
    std::ostringstream os;
    os << e;
    return os.str();
  }() + ")");
}

/// The arguments naming a loop level other than the root: `FUNC, VAR` or `FUNC, VAR, STAGE`.
std::string levelArgs(LoopLevel level) {
  level.lock();
  // "func.var" or "func.sN.var" (stage N); the accessors of the parts assert on some loop levels.
  std::string func = level.func(), rest = level.to_string().substr(func.size() + 1), stage;
  if (size_t dot = rest.find('.');
      dot != std::string::npos && rest[0] == 's' &&
      llvm::all_of(rest.substr(1, dot - 1), [](char c) { return std::isdigit(c); })) {
    stage = rest.substr(1, dot - 1);
    rest = rest.substr(dot + 1);
  }
  return fileName(func) + ", " + shortName(rest) + (stage.empty() ? "" : ", " + stage);
}

std::string levelCall(const char *what, LoopLevel level) {
  level.lock();
  return std::string(what) + (level.is_root() ? "_root()" : "_at(" + levelArgs(level) + ")");
}

/// A split as a schedule file writes it: `split(OLD, OUTER, INNER, FACTOR, TAIL)`.
std::string splitCall(const Split &split) {
  std::string tail = "Auto";
  for (auto [strategy, name] : kTails)
    if (strategy == split.tail)
      tail = name;
  return "split(" + shortName(split.old_var) + ", " + shortName(split.outer) + ", " + shortName(split.inner) +
         ", " + integer(split.factor) + ", " + tail + ")";
}

/// One stage's splits, loop order and loop kinds as a chain of calls; empty if it has the default schedule.
/// Halide reorders no loop once the outermost one is split (as gpu_single_thread does): such splits come
/// after the reorder, which leaves their loops where they are, outermost.
std::string stageCalls(const Definition &def) {
  const Halide::Internal::StageSchedule &s = def.schedule();
  const std::string outermost = Halide::Var::outermost().name();
  std::set<std::string> fromOutermost; // the loops split off the outermost one, qualified
  std::vector<std::string> calls, outermostSplits;
  for (const Split &split : s.splits()) {
    bool ofOutermost = shortName(split.old_var) == outermost || fromOutermost.count(split.old_var);
    if (ofOutermost && split.split_type == Split::SplitVar) {
      fromOutermost.insert({split.inner, split.outer});
      outermostSplits.push_back(splitCall(split));
      continue;
    }
    switch (split.split_type) {
    case Split::SplitVar:
      calls.push_back(splitCall(split));
      break;
    case Split::FuseVars:
      calls.push_back("fuse(" + shortName(split.inner) + ", " + shortName(split.outer) + ", " +
                      shortName(split.old_var) + ")");
      break;
    case Split::RenameVar:
      calls.push_back("rename(" + shortName(split.old_var) + ", " + shortName(split.outer) + ")");
      break;
    }
  }
  std::vector<std::string> order;
  std::vector<std::string> kinds;
  for (const Dim &d : s.dims()) {
    if (shortName(d.var) == outermost)
      continue;
    if (!fromOutermost.count(d.var))
      order.push_back(shortName(d.var));
    if (d.for_type == ForType::Serial)
      continue;
    const auto *kind = llvm::find_if(kLoopKinds, [&](auto k) { return k.first == d.for_type; });
    if (kind == std::end(kLoopKinds))
      throw std::runtime_error("a loop kind other than serial, parallel, vectorized, unrolled or GPU "
                               "blocks, threads and lanes on '" +
                               shortName(d.var) + "'");
    kinds.push_back(std::string(kind->second) + "(" + shortName(d.var) + ")");
  }
  if (!s.prefetches().empty())
    throw std::runtime_error("prefetches");
  // The loop this stage is computed in with another stage's (Halide's compute_with), after that stage.
  LoopLevel fused = s.fuse_level().level;
  fused.lock();
  if (!fused.is_inlined()) {
    for (const auto &[dim, strategy] : s.fuse_level().align)
      if (strategy != Halide::LoopAlignStrategy::Auto)
        throw std::runtime_error("alignment strategies of compute_with other than Auto");
    kinds.push_back("compute_with(" + levelArgs(fused) + ")");
  }
  if (!s.touched() && s.splits().empty() && kinds.empty())
    return "";
  if (order.size() > 1)
    calls.push_back("reorder(" + llvm::join(order, ", ") + ")");
  calls.insert(calls.end(), outermostSplits.begin(), outermostSplits.end());
  calls.insert(calls.end(), kinds.begin(), kinds.end());
  // First: they let the loop kinds after them parallelize reduction variables.
  if (s.atomic())
    calls.insert(calls.begin(), "atomic()");
  if (s.allow_race_conditions())
    calls.insert(calls.begin(), "allow_race_conditions()");
  return calls.empty() ? "" : "." + llvm::join(calls, ".");
}

/// The Func-level calls (where it is computed and stored, its storage order and memory).
std::string funcCalls(const Function &f) {
  const Halide::Internal::FuncSchedule &s = f.schedule();
  std::vector<std::string> calls;
  LoopLevel compute = s.compute_level(), store = s.store_level();
  compute.lock();
  store.lock();
  if (!compute.is_inlined()) {
    calls.push_back(levelCall("compute", compute));
    if (!store.is_inlined() && !(store == compute)) // an inlined store level means "where it is computed"
      calls.push_back(levelCall("store", store));
  }
  std::vector<std::string> storage, args;
  std::vector<std::string> bounds;
  for (const Halide::Internal::StorageDim &d : s.storage_dims()) {
    if (d.fold_factor.defined() || d.alignment.defined())
      throw std::runtime_error("folded or aligned storage of '" + fileName(f.name()) + "'");
    if (d.bound.defined())
      bounds.push_back("bound_storage(" + d.var + ", " + integer(d.bound) + ")");
    storage.push_back(d.var);
  }
  args = f.args();
  if (storage != args)
    calls.push_back("reorder_storage(" + llvm::join(storage, ", ") + ")");
  for (const Halide::Internal::Bound &b : s.bounds()) {
    if (b.modulus.defined() || b.remainder.defined() || !b.extent.as<Halide::Internal::IntImm>() ||
        (b.min.defined() && !b.min.as<Halide::Internal::IntImm>()))
      throw std::runtime_error("bounds other than a constant extent or range on '" + fileName(f.name()) + "'");
    if (b.min.defined())
      bounds.push_back("bound(" + b.var + ", " + integer(b.min) + ", " + integer(b.extent) + ")");
    else
      bounds.push_back("bound_extent(" + b.var + ", " + integer(b.extent) + ")");
  }
  calls.insert(calls.end(), bounds.begin(), bounds.end());
  for (auto [type, name] : kMemoryTypes)
    if (type == s.memory_type() && type != Halide::MemoryType::Auto)
      calls.push_back(std::string("store_in(") + name + ")");
  if (s.memoized() || s.async() || !s.wrappers().empty())
    throw std::runtime_error("memoization, async production or wrappers on '" + fileName(f.name()) + "'");
  return calls.empty() ? "" : "." + llvm::join(calls, ".");
}

/// A cursor over one line of a schedule file.
class LineParser {
public:
  LineParser(llvm::StringRef line, unsigned lineNo) : line(line), lineNo(lineNo) {}

  void skipSpace() {
    while (pos < line.size() && std::isspace(static_cast<unsigned char>(line[pos])))
      ++pos;
    if (pos < line.size() && line[pos] == '#')
      pos = line.size();
  }
  bool atEnd() {
    skipSpace();
    return pos >= line.size();
  }
  unsigned column() { return static_cast<unsigned>(pos) + 1; }
  /// A name or a whole number (letters, digits, '_' and '$').
  std::optional<std::string> word() {
    skipSpace();
    size_t start = pos;
    while (pos < line.size() && (std::isalnum(static_cast<unsigned char>(line[pos])) || line[pos] == '_' ||
                                 line[pos] == '$' || (line[pos] == '-' && pos == start)))
      ++pos;
    if (pos == start)
      return std::nullopt;
    return line.substr(start, pos - start).str();
  }
  bool consume(char c) {
    skipSpace();
    if (pos < line.size() && line[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  ScheduleError error(const std::string &message) { return ScheduleError{message, lineNo, column()}; }
  std::string rest() {
    skipSpace();
    return line.substr(pos).str();
  }

private:
  llvm::StringRef line;
  unsigned lineNo;
  size_t pos = 0;
};

/// `FUNC[.update(N)].CALL(ARGS)...` into a statement, or an error at the first token that does not fit.
std::variant<ScheduleStatement, ScheduleError> parseStatement(LineParser &p, unsigned lineNo) {
  ScheduleStatement st;
  st.line = lineNo;
  st.column = p.column();
  std::optional<std::string> func = p.word();
  if (!func)
    return p.error("expected 'kernel NAME' or a Func name, not '" + p.rest() + "'");
  st.func = *func;
  bool first = true;
  while (!p.atEnd()) {
    if (!p.consume('.'))
      return p.error("expected '.' and a scheduling call, not '" + p.rest() + "'");
    ScheduleCall call;
    call.line = lineNo;
    call.column = p.column();
    std::optional<std::string> name = p.word();
    if (!name)
      return p.error("expected the name of a scheduling call after '.'");
    call.name = *name;
    if (!p.consume('('))
      return p.error("expected '(' after '" + call.name + "'");
    if (!p.consume(')')) {
      do {
        std::optional<std::string> arg = p.word();
        if (!arg)
          return p.error("expected a name or a whole number as an argument of '" + call.name + "'");
        call.args.push_back(*arg);
      } while (p.consume(','));
      if (!p.consume(')'))
        return p.error("expected ',' or ')' in the arguments of '" + call.name + "'");
    }
    if (first && call.name == "update") {
      std::optional<int64_t> n =
          call.args.size() == 1 ? std::optional<int64_t>(std::strtoll(call.args[0].c_str(), nullptr, 10))
                                : std::nullopt;
      if (!n || *n < 0 || !llvm::all_of(call.args[0], [](char c) { return std::isdigit(c); }))
        return ScheduleError{"'update' takes the index of an update definition", lineNo, call.column};
      st.stage = static_cast<int>(*n) + 1;
    } else {
      st.calls.push_back(std::move(call));
    }
    first = false;
  }
  if (st.calls.empty())
    return p.error("expected at least one scheduling call on '" + st.func + "'");
  return st;
}

} // namespace

std::variant<std::vector<KernelSchedule>, ScheduleError>
mlir::attn::halide::parseSchedules(llvm::StringRef text) {
  std::vector<KernelSchedule> kernels;
  llvm::SmallVector<llvm::StringRef> lines;
  text.split(lines, '\n');
  for (auto [index, line] : llvm::enumerate(lines)) {
    unsigned lineNo = static_cast<unsigned>(index) + 1;
    LineParser p(line, lineNo);
    if (p.atEnd())
      continue;
    unsigned column = p.column();
    LineParser lookahead = p;
    if (lookahead.word() == std::optional<std::string>("kernel") && !lookahead.consume('.')) {
      p.word();
      KernelSchedule k;
      k.line = lineNo;
      k.column = column;
      std::optional<std::string> name = p.word();
      if (!name)
        return p.error("expected a kernel name after 'kernel'");
      k.kernel = *name;
      if (!p.atEnd()) {
        if (p.word() != std::optional<std::string>("autoschedule"))
          return ScheduleError{"expected 'autoschedule NAME' or the end of the line after the kernel name",
                               lineNo, column};
        std::optional<std::string> scheduler = p.word();
        if (!scheduler)
          return p.error("expected an autoscheduler name (adams2019, anderson2021, li2018 or mullapudi2016)");
        k.autoscheduler = *scheduler;
        if (!p.atEnd())
          return p.error("unexpected '" + p.rest() + "' after the autoscheduler name");
      }
      for (const KernelSchedule &earlier : kernels)
        if (earlier.kernel == k.kernel)
          return ScheduleError{"kernel '" + k.kernel + "' has a schedule already (line " +
                                   std::to_string(earlier.line) + ")",
                               lineNo, column};
      kernels.push_back(std::move(k));
      continue;
    }
    if (kernels.empty())
      return ScheduleError{"expected 'kernel NAME' before the first scheduling statement", lineNo, column};
    if (!kernels.back().autoscheduler.empty())
      return ScheduleError{"kernel '" + kernels.back().kernel +
                               "' is autoscheduled: it takes no scheduling statements",
                           lineNo, column};
    auto statement = parseStatement(p, lineNo);
    if (auto *e = std::get_if<ScheduleError>(&statement))
      return *e;
    kernels.back().statements.push_back(std::get<ScheduleStatement>(statement));
  }
  return kernels;
}

namespace {

std::vector<Function> outputFunctions(const LoweredKernel &k) {
  std::vector<Function> outputs;
  for (const Func &f : k.outputs)
    outputs.push_back(f.function());
  return outputs;
}

} // namespace

std::map<std::string, Function> mlir::attn::halide::pipelineFunctions(const LoweredKernel &k) {
  return Halide::Internal::build_environment(outputFunctions(k));
}

namespace {

/// The kernel's Funcs by the names schedule files give them (fileName).
std::map<std::string, Function> functionsByFileName(const LoweredKernel &k) {
  std::map<std::string, Function> byName;
  for (auto &[name, function] : pipelineFunctions(k))
    if (!byName.emplace(fileName(name), function).second)
      throw Halide::InternalError("two Funcs named " + fileName(name) + " in kernel " + k.entry);
  return byName;
}

} // namespace

void mlir::attn::halide::forEachStageSchedule(
    const LoweredKernel &k, llvm::function_ref<void(Halide::Internal::StageSchedule &)> fn) {
  for (auto &[name, function] : pipelineFunctions(k))
    for (int stage = 0; stage <= static_cast<int>(function.updates().size()); ++stage)
      fn((stage == 0 ? function.definition() : function.update(stage - 1)).schedule());
}

std::string mlir::attn::halide::printSchedule(const LoweredKernel &k) {
  if (!k.factored.empty())
    throw std::runtime_error("a factored reduction (rfactor) of '" + k.factored.front() + "'");
  std::map<std::string, Function> env = pipelineFunctions(k);
  std::vector<Function> outputs = outputFunctions(k);
  std::vector<std::string> order = Halide::Internal::realization_order(outputs, env).first;
  std::map<std::string, Function> byName = functionsByFileName(k);
  std::string text;
  std::vector<std::string> inlined;
  for (const std::string &fullName : llvm::reverse(order)) { // consumers first, as schedules are usually read
    std::string name = fileName(fullName);
    const Function &f = byName.at(name);
    std::string statements;
    if (std::string calls = funcCalls(f); !calls.empty())
      statements += "  " + name + calls + "\n";
    for (int stage = 0; stage <= static_cast<int>(f.updates().size()); ++stage) {
      const Definition &def = stage == 0 ? f.definition() : f.update(stage - 1);
      if (std::string calls = stageCalls(def); !calls.empty())
        statements += "  " + name + stageSuffix(stage) + calls + "\n";
    }
    if (statements.empty())
      inlined.push_back(name);
    text += statements;
  }
  if (!inlined.empty())
    text += "  # inlined: " + llvm::join(inlined, ", ") + "\n";
  return text;
}

namespace {

/// Applies one kernel's statements to its freshly built (unscheduled) Funcs.
class Applier {
public:
  explicit Applier(const LoweredKernel &k) : env(functionsByFileName(k)) {}

  /// Applies the statement's calls of one kind: loop levels (namesLoopLevel) name loops that other statements
  /// may create, so they go in a second pass.
  std::optional<ScheduleError> apply(const ScheduleStatement &st, bool levels) {
    auto found = env.find(fileName(st.func));
    if (found == env.end()) {
      std::vector<std::string> names;
      for (const auto &[name, f] : env)
        names.push_back(name);
      return ScheduleError{"no Func '" + st.func + "' in this kernel; its Funcs are " +
                               llvm::join(names, ", "),
                           st.line, st.column};
    }
    const Function &function = found->second;
    if (st.stage > static_cast<int>(function.updates().size()))
      return ScheduleError{"'" + st.func + "' has " + std::to_string(function.updates().size()) +
                               " update definition(s), so no update(" + std::to_string(st.stage - 1) + ")",
                           st.line, st.column};
    for (const ScheduleCall &call : st.calls) {
      if (namesLoopLevel(call.name) != levels)
        continue;
      try {
        if (std::optional<std::string> problem = applyCall(function, st.stage, call))
          return ScheduleError{*problem, call.line, call.column};
      } catch (const Halide::Error &e) {
        return ScheduleError{"Halide rejects '" + call.name + "': " + llvm::StringRef(e.what()).trim().str(),
                             call.line, call.column};
      }
    }
    return std::nullopt;
  }

private:
  /// The variable `name` of the stage, as a Var or an RVar like the loop it names.
  std::variant<VarOrRVar, std::string> variable(const Function &f, int stage, const std::string &name) {
    std::optional<bool> reduction = isReductionVar(f, stage, name);
    if (!reduction)
      return "'" + name + "' is not a loop of " + fileName(f.name()) + stageSuffix(stage);
    return VarOrRVar(name, *reduction);
  }

  std::optional<std::string> applyCall(const Function &function, int stage, const ScheduleCall &call) {
    Func func(function);
    Halide::Stage s = stage == 0 ? Halide::Stage(func) : func.update(stage - 1);
    const std::vector<std::string> &a = call.args;
    auto arity = [&](size_t lo, size_t hi) -> std::optional<std::string> {
      if (a.size() >= lo && a.size() <= hi)
        return std::nullopt;
      return "'" + call.name + "' takes " +
             (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)) +
             " argument(s), not " + std::to_string(a.size());
    };
    auto number = [&](const std::string &text) -> std::optional<int> {
      if (text.empty() || !llvm::all_of(text, [](char c) { return std::isdigit(c); }) || text.size() > 9)
        return std::nullopt;
      return std::stoi(text);
    };
    auto tail = [&](size_t i) -> std::variant<TailStrategy, std::string> {
      if (i >= a.size())
        return TailStrategy::Auto;
      for (auto [strategy, name] : kTails)
        if (a[i] == name)
          return strategy;
      return "unknown tail strategy '" + a[i] +
             "' (RoundUp, GuardWithIf, Predicate, ShiftInwards, Auto, ...)";
    };
    std::vector<VarOrRVar> vars;
    auto vars_from = [&](size_t first, size_t count) -> std::optional<std::string> {
      for (size_t i = first; i < first + count; ++i) {
        auto v = variable(function, stage, a[i]);
        if (auto *problem = std::get_if<std::string>(&v))
          return *problem;
        vars.push_back(std::get<VarOrRVar>(v));
      }
      return std::nullopt;
    };
    // `lo` to `hi` arguments, of which the first `count` name loops of the stage.
    auto loopArgs = [&](size_t lo, size_t hi, size_t count) -> std::optional<std::string> {
      if (auto problem = arity(lo, hi))
        return problem;
      return vars_from(0, count);
    };
    const std::string &n = call.name;
    bool funcLevel = n == "compute_root" || n == "compute_inline" || n == "compute_at" || n == "store_root" ||
                     n == "store_at" || n == "reorder_storage" || n == "store_in" || n == "bound_storage" ||
                     n == "bound_extent" || n == "bound";
    if (funcLevel && stage != 0)
      return "'" + n + "' applies to a Func, not to one of its update definitions";
    if (n == "compute_root" || n == "store_root" || n == "compute_inline") {
      if (auto problem = arity(0, 0))
        return problem;
      if (n == "compute_root")
        func.compute_root();
      else if (n == "store_root")
        func.store_root();
      else
        func.compute_inline();
      return std::nullopt;
    }
    if (namesLoopLevel(n)) {
      if (auto problem = arity(2, 3))
        return problem;
      auto at = env.find(fileName(a[0]));
      if (at == env.end())
        return "no Func '" + a[0] + "' in this kernel";
      int atStage = -1;
      if (a.size() == 3) {
        std::optional<int> index = number(a[2]);
        if (!index)
          return "the stage of '" + n + "' must be a whole number, not '" + a[2] + "'";
        atStage = *index;
      }
      std::optional<bool> reduction;
      for (int st = 0; st <= static_cast<int>(at->second.updates().size()) && !reduction; ++st)
        if (atStage < 0 || st == atStage)
          reduction = isReductionVar(at->second, st, a[1]);
      if (!reduction)
        return "'" + a[1] + "' is not a loop of " + a[0];
      LoopLevel level(Func(at->second), VarOrRVar(a[1], *reduction), atStage);
      if (n == "compute_with")
        s.compute_with(level);
      else if (n == "compute_at")
        func.compute_at(level);
      else
        func.store_at(level);
      return std::nullopt;
    }
    if (n == "reorder_storage") {
      if (a.empty())
        return "'reorder_storage' takes the Func's variables, innermost first";
      std::vector<Halide::Var> storage;
      for (const std::string &name : a) {
        if (!llvm::is_contained(function.args(), name))
          return "'" + name + "' is not a variable of " + fileName(function.name());
        storage.emplace_back(name);
      }
      func.reorder_storage(storage);
      return std::nullopt;
    }
    if (n == "bound_storage" || n == "bound_extent") {
      if (auto problem = arity(2, 2))
        return problem;
      std::optional<int> bound = number(a[1]);
      if (!llvm::is_contained(function.args(), a[0]))
        return "'" + a[0] + "' is not a variable of " + fileName(function.name());
      if (!bound || *bound < 1)
        return std::string(n == "bound_storage" ? "the storage bound" : "the extent") +
               " must be a positive whole number, not '" + a[1] + "'";
      if (n == "bound_storage")
        func.bound_storage(Halide::Var(a[0]), *bound);
      else
        func.bound_extent(Halide::Var(a[0]), *bound);
      return std::nullopt;
    }
    if (n == "bound") {
      if (auto problem = arity(3, 3))
        return problem;
      std::optional<int> min = number(a[1]), extent = number(a[2]);
      if (!llvm::is_contained(function.args(), a[0]))
        return "'" + a[0] + "' is not a variable of " + fileName(function.name());
      if (!min || !extent || *extent < 1)
        return "bound takes a whole number and a positive whole number, not '" + a[1] + "' and '" + a[2] +
               "'";
      func.bound(Halide::Var(a[0]), *min, *extent);
      return std::nullopt;
    }
    if (n == "store_in") {
      if (auto problem = arity(1, 1))
        return problem;
      for (auto [type, name] : kMemoryTypes)
        if (a[0] == name) {
          func.store_in(type);
          return std::nullopt;
        }
      return "unknown memory type '" + a[0] + "' (Auto, Heap, Stack, Register, GPUShared, GPUTexture)";
    }
    if (n == "split") {
      if (auto problem = loopArgs(4, 5, 1))
        return problem;
      std::optional<int> factor = number(a[3]);
      if (!factor || *factor < 1)
        return "the split factor must be a positive whole number, not '" + a[3] + "'";
      auto t = tail(4);
      if (auto *problem = std::get_if<std::string>(&t))
        return *problem;
      bool r = vars[0].is_rvar;
      s.split(vars[0], VarOrRVar(a[1], r), VarOrRVar(a[2], r), *factor, std::get<TailStrategy>(t));
      return std::nullopt;
    }
    if (n == "fuse") {
      if (auto problem = loopArgs(3, 3, 2))
        return problem;
      s.fuse(vars[0], vars[1], VarOrRVar(a[2], vars[0].is_rvar || vars[1].is_rvar));
      return std::nullopt;
    }
    if (n == "rename") {
      if (auto problem = loopArgs(2, 2, 1))
        return problem;
      s.rename(vars[0], VarOrRVar(a[1], vars[0].is_rvar));
      return std::nullopt;
    }
    if (n == "reorder") {
      if (a.size() < 2)
        return "'reorder' takes two or more loops, innermost first";
      if (auto problem = vars_from(0, a.size()))
        return problem;
      s.reorder(vars);
      return std::nullopt;
    }
    if (n == "vectorize" || n == "unroll" || n == "parallel" || n == "serial") {
      if (auto problem = loopArgs(1, n == "serial" ? 1 : 3, 1))
        return problem;
      if (a.size() == 1) {
        if (n == "vectorize")
          s.vectorize(vars[0]);
        else if (n == "unroll")
          s.unroll(vars[0]);
        else if (n == "parallel")
          s.parallel(vars[0]);
        else
          s.serial(vars[0]);
        return std::nullopt;
      }
      std::optional<int> factor = number(a[1]);
      if (!factor || *factor < 1)
        return "the factor of '" + n + "' must be a positive whole number, not '" + a[1] + "'";
      auto t = tail(2);
      if (auto *problem = std::get_if<std::string>(&t))
        return *problem;
      if (n == "vectorize")
        s.vectorize(vars[0], *factor, std::get<TailStrategy>(t));
      else if (n == "unroll")
        s.unroll(vars[0], *factor, std::get<TailStrategy>(t));
      else
        s.parallel(vars[0], *factor, std::get<TailStrategy>(t));
      return std::nullopt;
    }
    if (n == "gpu_blocks" || n == "gpu_threads") {
      if (auto problem = loopArgs(1, 3, a.size()))
        return problem;
      bool blocks = n == "gpu_blocks";
      if (vars.size() == 1)
        blocks ? s.gpu_blocks(vars[0]) : s.gpu_threads(vars[0]);
      else if (vars.size() == 2)
        blocks ? s.gpu_blocks(vars[0], vars[1]) : s.gpu_threads(vars[0], vars[1]);
      else
        blocks ? s.gpu_blocks(vars[0], vars[1], vars[2]) : s.gpu_threads(vars[0], vars[1], vars[2]);
      return std::nullopt;
    }
    if (n == "gpu_lanes") {
      if (auto problem = loopArgs(1, 1, 1))
        return problem;
      s.gpu_lanes(vars[0]);
      return std::nullopt;
    }
    if (n == "allow_race_conditions" || n == "atomic") {
      if (auto problem = arity(0, 0))
        return problem;
      if (n == "atomic")
        s.atomic();
      else
        s.allow_race_conditions();
      return std::nullopt;
    }
    return "unknown scheduling call '" + n +
           "' (compute_root, compute_at, compute_inline, store_root, store_at, compute_with, "
           "reorder_storage, bound_storage, bound_extent, bound, store_in, split, fuse, rename, reorder, "
           "vectorize, unroll, parallel, serial, gpu_blocks, gpu_threads, gpu_lanes, atomic, "
           "allow_race_conditions)";
  }

  std::map<std::string, Function> env;
};

} // namespace

std::optional<ScheduleError> mlir::attn::halide::applySchedule(LoweredKernel &k,
                                                               const KernelSchedule &schedule) {
  Applier applier(k);
  for (bool levels : {false, true})
    for (const ScheduleStatement &st : schedule.statements)
      if (std::optional<ScheduleError> e = applier.apply(st, levels))
        return e;
  return std::nullopt;
}
