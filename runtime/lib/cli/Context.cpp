// The context every command runs in (see Command.h): its error messages, the placeholders of help texts,
// and the checks of options that several commands share.
#include "Command.h"

#include <iostream>
#include <string_view>

namespace attn::rt {

int Context::usageError(const std::string &message) const {
  if (communicator.rank() > 0) // every rank reads the same command line: the first says what is wrong
    return kUsage;
  std::cerr << "error: " << message << "\n"
            << "run '" << program << (command.empty() ? "" : " " + command) << " --help' for usage\n";
  return kUsage;
}

int Context::failure(const std::string &message) const {
  std::cerr << "error: " + communicator.who() + message + "\n"; // one write: ranks share the terminal
  return kFailure;
}

std::string Context::fill(std::string text) const {
  std::string inputs;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    inputs += std::string(" --in ") + spec.values[i].name + "=" + spec.values[i].name + ".npy";
  for (auto [key, value] : {std::pair<const char *, std::string>{"$PROGRAM", program},
                            {"$MODEL", spec.name},
                            {"$SOURCE", spec.source_file},
                            {"$INPUTS", inputs}})
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, std::string_view(key).size(), value);
  return text;
}

Exit Context::wholeNumber(const ParsedOptions &options, const char *name, uint64_t min, uint64_t max,
                          uint64_t &value) const {
  const std::string *text = options.get(name);
  if (!text)
    return std::nullopt;
  std::optional<uint64_t> n = parseInteger(*text, min, max);
  if (!n)
    return usageError(std::string("option '") + name + "' needs a whole number from " + std::to_string(min) +
                      " to " + std::to_string(max) + ", not '" + *text + "'");
  value = *n;
  return std::nullopt;
}

Exit dropoutOption(const Context &context, const ParsedOptions &options, RunOptions &run) {
  if (!options.get("--dropout"))
    return std::nullopt;
  uint64_t seed = 0;
  if (Exit code = context.wholeNumber(options, "--dropout", 0, UINT64_MAX, seed))
    return code;
  run.dropout = {true, seed, 0, 0};
  return std::nullopt;
}

const attn_model_spec *Context::gradientProgram() const {
  if (!spec.gradient)
    usageError("the model has no loss to differentiate: add 'train { loss = NAME }' to " +
               std::string(spec.source_file));
  return spec.gradient;
}

} // namespace attn::rt
