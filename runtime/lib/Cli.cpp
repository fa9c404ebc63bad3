// The command line of every program attnc produces: `attn_main` dispatches to the commands of the table
// below (each in its own file under cli/) and prints the help that the table describes. The command line
// is the only part of the runtime that prints or chooses exit codes: 0 on success, 1 when the work itself
// fails (a bad file, a shape mismatch, a kernel error), 2 when the command line is wrong, each with one
// `error: ...` line on stderr. Usage errors are found before any file is read, so a typo costs nothing.
#include "cli/Command.h"

#include <malloc.h>

#include <cstdlib>
#include <iostream>

#ifndef ATTN_VERSION
#error "ATTN_VERSION must be defined (the build passes the project version)"
#endif

namespace attn::rt {

/// Every command, in the order the help lists them.
static const Command *const kCommands[] = {
    &infoCommand, &inferCommand,     &attentionCommand, &trainCommand, &evalCommand,
    &gradCommand, &gradCheckCommand, &initCommand,      &benchCommand, &profileCommand,
};

static const Command *findCommand(const std::string &name) {
  for (const Command *command : kCommands)
    if (name == command->name)
      return command;
  return nullptr;
}

/// The program's help: the model, its commands with their summaries, and an example.
static std::string mainHelp(const Context &context) {
  std::string commands;
  auto row = [&](const std::string &name, const std::string &summary) {
    commands += "  " + name + std::string(11 - name.size(), ' ') + summary + "\n";
  };
  for (const Command *command : kCommands)
    row(command->name, command->summary);
  row("help", "show this help, or a command's: help COMMAND");
  return context.fill(R"(usage: $PROGRAM <command> [options]

$MODEL: a model compiled by attnc from $SOURCE.

commands:
)" + commands + R"(
options:
  -h, --help   show this help
  --version    show the model's and attnc's versions
  --device N   before the command: the GPU to run on, for a program compiled for CUDA or OpenCL
               (default 0, or HL_GPU_DEVICE)

example:
  $PROGRAM init --out w.safetensors
  $PROGRAM infer --weights w.safetensors$INPUTS --out results
)");
}

/// `help [COMMAND]`.
static int help(const Context &context, const std::vector<std::string> &args) {
  if (args.empty()) {
    std::cout << mainHelp(context);
    return kSuccess;
  }
  if (args.size() > 1)
    return context.usageError("help takes at most one command");
  const Command *command = findCommand(args[0]);
  if (!command)
    return context.usageError("unknown command '" + args[0] + "'");
  std::cout << context.fill(command->help);
  return kSuccess;
}

/// Parses the command's options and runs it; -h/--help prints its help instead.
static int runCommand(const Context &context, const Command &command, const std::vector<std::string> &args) {
  Expected<ParsedOptions> parsed = parseOptions(args, command.options, command.name);
  if (!parsed)
    return context.usageError(parsed.message());
  if (parsed->help) {
    std::cout << context.fill(command.help);
    return kSuccess;
  }
  return command.run(context, *parsed);
}

static int run(const attn_model_spec &spec, const std::string &program, const std::vector<std::string> &args,
               Communicator &communicator) {
  Context context{spec, program, "", communicator};
  if (args.empty()) {
    std::cerr << mainHelp(context);
    return kUsage;
  }
  if (args[0] == "--device") {
    char *end = nullptr;
    long device = args.size() > 1 ? std::strtol(args[1].c_str(), &end, 10) : -1;
    if (args.size() < 2 || args[1].empty() || *end || device < 0 || device > 1024)
      return context.usageError("--device takes the number of a GPU (0, 1, ...)");
    halide_set_gpu_device(static_cast<int>(device));
    return run(spec, program, std::vector<std::string>(args.begin() + 2, args.end()), communicator);
  }
  const std::string &name = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (name == "-h" || name == "--help" || name == "help")
    return help(context, rest);
  if (name == "--version") {
    if (!rest.empty())
      return context.usageError("unexpected argument '" + rest[0] + "' after --version");
    std::cout << spec.name << ", compiled by attnc " << ATTN_VERSION << " from " << spec.source_file
              << " for " << spec.target << "\n";
    return kSuccess;
  }
  if (const Command *command = findCommand(name))
    return runCommand({spec, program, command->name, communicator}, *command, rest);
  if (name.rfind("-", 0) == 0)
    return context.usageError("unknown option '" + name + "'");
  return context.usageError("unknown command '" + name + "'");
}

int runProgram(const attn_model_spec *model, int argc, char **argv, Communicator &communicator) {
  // Every run allocates and frees its tensors: keep freed memory in the heap (glibc's largest mmap
  // threshold, no trimming) so that the next run reuses it instead of faulting in fresh pages.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int rc;
  try {
    if (!model) {
      std::cerr << "error: internal error: no model table\n";
      return kFailure;
    }
    if (Status s = checkModelSpec(*model); !s) {
      std::cerr << "error: " << s.message() << "\n";
      return kFailure;
    }
    std::string program = argc > 0 && argv[0] && *argv[0] ? argv[0] : model->name;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i)
      args.emplace_back(argv[i] ? argv[i] : "");
    rc = run(*model, program, args, communicator);
  } catch (const std::exception &e) {
    std::cerr << "error: internal error: " << e.what() << "\n";
    rc = kFailure;
  }
  std::cout.flush();
  return rc;
}

} // namespace attn::rt

extern "C" int attn_main(const attn_model_spec *model, int argc, char **argv) {
  attn::rt::Communicator alone;
  return attn::rt::runProgram(model, argc, argv, alone);
}
