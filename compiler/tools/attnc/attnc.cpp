// attnc: compiles a .attn model into a standalone program (or stops at any stage with --emit).
//
//   .attn --parse--> AST --MLIRGen--> attn IR --passes--> kernels --Halide--> objects --link--> program
#include "attn/Conversion/AttnToHalide.h"
#include "attn/Dialect/AttnDialect.h"
#include "attn/Frontend/ASTPrinter.h"
#include "attn/Frontend/MLIRGen.h"
#include "attn/Frontend/Parser.h"
#include "attn/Target/ModelSpec.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace llvm;

namespace {

enum class Emit { AST, MLIRGen, MLIR, Halide, Schedule, Object, Exe };

cl::OptionCategory category("attnc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.attn>"), cl::Required, cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file (default: the model's name for an executable, "
                                              "<name>.o for an object, standard output for text)"),
                                cl::value_desc("path"), cl::cat(category));
cl::opt<Emit> emit(
    "emit", cl::desc("The stage to stop at and write out"), cl::init(Emit::Exe),
    cl::values(clEnumValN(Emit::AST, "ast", "the parsed syntax tree"),
               clEnumValN(Emit::MLIRGen, "mlir-gen", "attn IR as generated from the model, before any pass"),
               clEnumValN(Emit::MLIR, "mlir", "attn IR after shape inference, decomposition and fusion"),
               clEnumValN(Emit::Halide, "halide", "the lowered Halide statement of every kernel"),
               clEnumValN(Emit::Schedule, "schedule",
                          "the schedule in force for every kernel, as a file --schedule reads"),
               clEnumValN(Emit::Object, "object",
                          "one relocatable object: kernels, Halide runtime, model table (for a target "
                          "of another architecture, a static library of them)"),
               clEnumValN(Emit::Exe, "exe", "a standalone program (default)")),
    cl::cat(category));
cl::opt<std::string> target("target",
                            cl::desc("Halide target: 'host' (default); 'cuda' or 'opencl' (kernels on "
                                     "a GPU: host-cuda-cuda_capability_86, host-opencl); or a target "
                                     "string such as x86-64-linux-avx2-fma (for another architecture, "
                                     "such as arm-64-linux, --emit=object only)"),
                            cl::init("host"), cl::cat(category));
cl::opt<bool> keepTemps("keep-temps", cl::desc("Keep the intermediate files (C table, objects) and print "
                                               "where they are"),
                        cl::cat(category));
cl::opt<std::string>
    scheduleFile("schedule",
                 cl::desc("Schedule file (as --emit=schedule writes it): the kernels it names "
                          "get its schedule instead of the default"),
                 cl::value_desc("file"), cl::cat(category));
cl::opt<std::string>
    autoscheduler("autoschedule",
                  cl::desc("Schedule kernels with a Halide autoscheduler: adams2019, li2018 or "
                           "mullapudi2016, or anderson2021 for a GPU target (kernels a --schedule file "
                           "names keep its schedule)"),
                  cl::value_desc("name"), cl::cat(category));
cl::list<std::string> estimates("estimate",
                                cl::desc("DIM=N: the size the autoscheduler plans for dynamic dimension DIM "
                                         "(default 64); repeatable or comma-separated"),
                                cl::value_desc("DIM=N"), cl::CommaSeparated, cl::cat(category));
enum class Mode { Throughput, Latency };
cl::opt<Mode> mode("mode", cl::desc("What the default schedules optimize"), cl::init(Mode::Throughput),
                   cl::values(clEnumValN(Mode::Throughput, "throughput",
                                         "batches: every kernel spreads its work over all threads (default)"),
                              clEnumValN(Mode::Latency, "latency",
                                         "one example at a time: small kernels run on one thread, so no time "
                                         "goes to waking the others; dynamic sizes are estimated as 1")),
                   cl::cat(category));
enum class Distributed { None, Mpi };
cl::opt<Distributed> distributed(
    "distributed", cl::desc("Build the program as one rank of data-parallel training"),
    cl::init(Distributed::None),
    cl::values(clEnumValN(Distributed::None, "none", "one process (default)"),
               clEnumValN(Distributed::Mpi, "mpi",
                          "`mpirun -np N ./model train ...` trains on N processes: the program links "
                          "Open MPI, batch statistics and gradients are summed across the ranks "
                          "(docs/distributed.md)")),
    cl::cat(category));
cl::opt<bool> verbose("v", cl::desc("Print the commands run to compile and link"), cl::cat(category));
cl::opt<std::string> tuningDb("tuning-db",
                              cl::desc("Tuning database that 'attnc tune' writes and compilation reads: "
                                       "hand-scheduled kernels take the knobs tuned for them on this CPU "
                                       "(default: $XDG_CACHE_HOME/attnc/tuning.jsonl or "
                                       "~/.cache/attnc/tuning.jsonl; 'none' for no database)"),
                              cl::value_desc("file"), cl::cat(category));

cl::OptionCategory tuneCategory("attnc tune options");
cl::opt<double> budget("budget", cl::desc("attnc tune: seconds to spend in all (default 300)"), cl::init(300),
                       cl::value_desc("seconds"), cl::cat(tuneCategory));
cl::opt<bool> report("report",
                     cl::desc("attnc tune: print hand against tuned time per kernel from the "
                              "database instead of tuning"),
                     cl::cat(tuneCategory));
cl::opt<bool> forwardOnly("forward",
                          cl::desc("attnc tune: only the kernels of inference, not those of the gradient "
                                   "program of a model that trains"),
                          cl::cat(tuneCategory));

/// The scheduling options from the command line; false (after reporting) for a malformed --estimate.
bool scheduleOptions(mlir::attn::ScheduleOptions &options) {
  options.file = scheduleFile;
  options.autoscheduler = autoscheduler;
  options.latency = mode == Mode::Latency;
  options.tuningDb = tuningDb.empty()     ? mlir::attn::defaultTuningDb()
                     : tuningDb == "none" ? std::string()
                                          : std::string(tuningDb);
  for (const std::string &e : estimates) {
    auto [name, value] = StringRef(e).split('=');
    int64_t n = 0;
    if (name.empty() || value.getAsInteger(10, n) || n < 1) {
      errs() << "attnc: error: --estimate expects DIM=N with N a positive whole number, not '" << e << "'\n";
      return false;
    }
    options.estimates[name.str()] = n;
  }
  return true;
}

/// Runs a tool, echoing it with -v; returns false (after reporting) if it fails.
bool run(ArrayRef<std::string> argv) {
  if (verbose) {
    for (const std::string &a : argv)
      errs() << a << " ";
    errs() << "\n";
  }
  SmallVector<StringRef> args(argv.begin(), argv.end());
  std::string message;
  int rc = sys::ExecuteAndWait(argv.front(), args, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    errs() << "attnc: error: '" << argv.front() << "' failed" << (message.empty() ? "" : ": " + message)
           << " (exit " << rc << ")\n";
    return false;
  }
  return true;
}

/// Writes `text` to `path` (or stdout for "-").
bool writeText(StringRef path, function_ref<void(raw_ostream &)> write) {
  std::error_code ec;
  ToolOutputFile out(path, ec, sys::fs::OF_Text);
  if (ec) {
    errs() << "attnc: error: cannot write '" << path << "': " << ec.message() << "\n";
    return false;
  }
  write(out.os());
  out.keep();
  return true;
}

/// Whether `halideTarget` is of another architecture than this machine's: its programs cannot be linked here.
bool isForeign(StringRef halideTarget) {
  std::string error;
  FailureOr<std::string> host = mlir::attn::resolveHalideTarget("host", error);
  return failed(host) || mlir::attn::targetTriple(halideTarget) != mlir::attn::targetTriple(*host);
}

std::string defaultOutput(StringRef modelName, bool foreign) {
  if (!outputFile.empty())
    return outputFile;
  if (emit == Emit::Exe)
    return modelName.str();
  if (emit == Emit::Object)
    return modelName.str() + (foreign ? ".a" : ".o");
  return "-";
}

/// Compiles the kernels and the model table, then links them into `output` (an executable, or one
/// relocatable object with -emit=object; for a target of another architecture, `foreign` its triple, a
/// static library of the target's objects). Writes to a temporary name first, so a failed build never
/// replaces an earlier good one.
bool buildBinary(mlir::ModuleOp module, StringRef modelName, StringRef output, StringRef halideTarget,
                 const mlir::attn::ScheduleOptions &schedule, StringRef foreign) {
  SmallString<128> dir;
  if (std::error_code ec = sys::fs::createUniqueDirectory("attnc", dir)) {
    errs() << "attnc: error: cannot create a temporary directory: " << ec.message() << "\n";
    return false;
  }
  llvm::scope_exit cleanup([&] {
    if (keepTemps)
      errs() << "attnc: intermediate files kept in " << dir << "\n";
    else
      sys::fs::remove_directories(dir);
  });

  std::vector<mlir::attn::CompiledKernel> kernels;
  std::string runtimeObject;
  if (failed(mlir::attn::compileKernels(module, halideTarget, schedule, dir, kernels, runtimeObject)))
    return false;
  auto model = cast<mlir::func::FuncOp>(module.getBody()->front());
  if (model->hasAttr(mlir::attn::AttnDialect::kTrainAttr) &&
      failed(mlir::attn::compileOptimizerKernels(module, halideTarget, dir, kernels)))
    return false;

  std::string specC = (dir + "/model_spec.c").str(), specO = (dir + "/model_spec.o").str();
  mlir::attn::ModelSpecInfo info{modelName.str(), inputFile, halideTarget.str(),
                                 mlir::attn::splitsDecoderRows(halideTarget),
                                 distributed == Distributed::Mpi};
  bool emitted = writeText(specC, [&](raw_ostream &os) {
    if (failed(mlir::attn::emitModelSpec(module, info, os)))
      os << "#error model table could not be emitted\n";
  });
  std::vector<std::string> compileSpec{ATTN_CC, "-c", "-O2", "-I" ATTN_RUNTIME_INCLUDE, specC, "-o", specO};
  if (!foreign.empty()) // clang cross-compiles the table; only <stdint.h> is needed, which it brings
    compileSpec = {ATTN_CROSS_CC,
                   "--target=" + foreign.str(),
                   "-ffreestanding",
                   "-c",
                   "-O2",
                   "-I" ATTN_RUNTIME_INCLUDE,
                   specC,
                   "-o",
                   specO};
  if (!emitted || !run(compileSpec))
    return false;

  std::string partial = (dir + "/" + sys::path::filename(output)).str();
  // An archive of the objects for a foreign target, else the C++ driver links them (-r: into one object).
  std::vector<std::string> link{ATTN_CXX};
  if (!foreign.empty())
    link = {ATTN_LLVM_AR, "rcs", partial};
  else if (emit == Emit::Object)
    link.push_back("-r");
  link.push_back(specO);
  for (const auto &k : kernels)
    link.push_back(k.object);
  link.push_back(runtimeObject);
  if (foreign.empty() && emit == Emit::Exe) {
    if (distributed == Distributed::Mpi) {
      link.push_back(ATTN_RUNTIME_MPI_LIB);
      SmallVector<StringRef> libraries;
      StringRef(ATTN_MPI_LIBS).split(libraries, ' ', -1, /*KeepEmpty=*/false);
      for (StringRef lib : libraries)
        link.push_back(lib.str());
    }
    for (const char *lib : {ATTN_RUNTIME_LIB, "-lz", "-lpthread", "-ldl", "-lm"})
      link.push_back(lib);
    if (*ATTN_LINK_FLAGS) // the sanitizers the runtime library was built with
      link.push_back(ATTN_LINK_FLAGS);
  }
  if (foreign.empty())
    link.insert(link.end(), {"-o", partial});
  if (!run(link))
    return false;
  if (std::error_code ec = sys::fs::rename(partial, output)) {
    if ((ec = sys::fs::copy_file(partial, output))) {
      errs() << "attnc: error: cannot write '" << output << "': " << ec.message() << "\n";
      return false;
    }
    sys::fs::setPermissions(output, sys::fs::all_read | sys::fs::all_exe | sys::fs::owner_write);
  }
  return true;
}

int compile(bool tune) {
  auto buffer = MemoryBuffer::getFileOrSTDIN(inputFile, /*IsText=*/true);
  if (!buffer) {
    errs() << "attnc: error: cannot read '" << inputFile << "': " << buffer.getError().message() << "\n";
    return 1;
  }
  std::string halideTarget;
  {
    std::string error;
    FailureOr<std::string> resolved = mlir::attn::resolveHalideTarget(target, error);
    if (failed(resolved)) {
      errs() << "attnc: error: " << error << "\n";
      return 1;
    }
    halideTarget = *resolved;
  }

  SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), SMLoc());
  // For a target of another architecture, the triple its static library is built for (see buildBinary).
  bool foreignTarget = isForeign(halideTarget);
  std::string foreign = foreignTarget ? mlir::attn::targetTriple(halideTarget) : "";
  if (!tune && foreignTarget && (emit == Emit::Exe || emit == Emit::Object)) {
    if (emit == Emit::Exe || foreign.empty()) {
      errs() << "attnc: error: target '" << halideTarget << "' is not this machine's architecture, so no "
             << "program for it can be linked here; "
             << (foreign.empty() ? "attnc builds libraries only for Linux targets"
                                 : "--emit=object writes its kernels, Halide runtime and model table as a "
                                   "static library, to link with the attnc runtime built for the target")
             << "\n";
      return 1;
    }
    if (!*ATTN_CROSS_CC || !*ATTN_LLVM_AR) {
      errs() << "attnc: error: objects for target '" << halideTarget << "' need clang-22 and llvm-ar, which "
             << "attnc was built without (scripts/bootstrap.sh installs them)\n";
      return 1;
    }
  }

  if (distributed == Distributed::Mpi && !*ATTN_RUNTIME_MPI_LIB) {
    errs() << "attnc: error: --distributed=mpi needs the MPI runtime library, which this attnc was built "
              "without: install Open MPI (scripts/bootstrap.sh does) and rebuild\n";
    return 1;
  }
  if (distributed == Distributed::Mpi && foreignTarget) {
    errs() << "attnc: error: --distributed=mpi builds programs for this machine only\n";
    return 1;
  }

  std::unique_ptr<attn::ast::Model> ast = attn::parseModel(sourceMgr, inputFile);
  if (!ast)
    return 1;
  std::string output = defaultOutput(ast->name.name, foreignTarget);
  if (emit == Emit::AST)
    return writeText(output, [&](raw_ostream &os) { attn::printAST(*ast, os); }) ? 0 : 1;

  mlir::MLIRContext context;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module = attn::mlirGen(context, *ast);
  if (!module)
    return 1;
  if (emit == Emit::MLIRGen)
    return writeText(output, [&](raw_ostream &os) { module->print(os); }) ? 0 : 1;

  mlir::PassManager pm(&context);
  if (failed(mlir::applyPassManagerCLOptions(pm)))
    return 1;
  mlir::attn::buildKernelPipeline(pm, distributed == Distributed::Mpi);
  if (failed(pm.run(*module)))
    return 1;
  if (emit == Emit::MLIR)
    return writeText(output, [&](raw_ostream &os) { module->print(os); }) ? 0 : 1;

  mlir::attn::ScheduleOptions schedule;
  if (!scheduleOptions(schedule))
    return 1;
  if (tune) {
    if (schedule.tuningDb.empty() || !schedule.file.empty() || !schedule.autoscheduler.empty()) {
      errs() << "attnc: error: attnc tune tunes the hand-written schedules into a tuning database: it takes "
                "neither --schedule, --autoschedule nor --tuning-db=none\n";
      return 1;
    }
    if (!report && !mlir::attn::runsOnHost(halideTarget)) {
      errs() << "attnc: error: attnc tune times kernels on this machine, which cannot run target '"
             << halideTarget << "'; tune for 'host' or a target this CPU supports\n";
      return 1;
    }
    if (report)
      return succeeded(mlir::attn::reportTuning(*module, halideTarget, schedule, outs())) ? 0 : 1;
    mlir::attn::TuneOptions options{budget, inputFile, forwardOnly};
    return succeeded(mlir::attn::tuneKernels(*module, halideTarget, schedule, options, errs())) ? 0 : 1;
  }
  if (emit == Emit::Halide || emit == Emit::Schedule) {
    bool ok = true;
    bool written = writeText(output, [&](raw_ostream &os) {
      ok = succeeded(emit == Emit::Halide
                         ? mlir::attn::printKernelsAsHalide(*module, halideTarget, schedule, os)
                         : mlir::attn::printSchedules(*module, halideTarget, schedule, os));
    });
    return written && ok ? 0 : 1;
  }
  return buildBinary(*module, ast->name.name, output, halideTarget, schedule, foreign) ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  mlir::registerPassManagerCLOptions();
  mlir::registerAsmPrinterCLOptions();
  // `attnc tune model.attn ...`: the autotuner, with the same options as compilation and its own.
  bool tune = argc > 1 && StringRef(argv[1]) == "tune";
  std::vector<char *> args(argv, argv + argc);
  if (tune)
    args.erase(args.begin() + 1);
  cl::HideUnrelatedOptions({&category, &tuneCategory});
  cl::SetVersionPrinter([](raw_ostream &os) { os << "attnc " ATTN_VERSION " (MLIR 22, Halide 21)\n"; });
  cl::ParseCommandLineOptions(
      static_cast<int>(args.size()), args.data(),
      "attnc: compiles an attention model (.attn) into a standalone program\n\n"
      "  attnc model.attn -o model        build ./model (see ./model --help)\n"
      "  attnc model.attn --emit=mlir     show the fused attn IR\n"
      "  attnc model.attn --emit=schedule > s.sched; attnc model.attn --schedule s.sched -o model\n"
      "                                   edit the kernels' schedules and build with them\n"
      "  attnc tune model.attn --budget 600 --estimate B=64\n"
      "                                   time schedule variants of every kernel on this machine and\n"
      "                                   keep the fastest in the tuning database, which later\n"
      "                                   compilations use; --report shows hand against tuned\n\n"
      "MLIR's pass instrumentation options also apply, e.g. --mlir-print-ir-after-all\n"
      "(listed by --help-hidden).\n");
  if (!tune && (budget.getNumOccurrences() || report || forwardOnly)) {
    errs() << "attnc: error: --budget, --report and --forward belong to 'attnc tune MODEL'\n";
    return 1;
  }
  return compile(tune);
}
