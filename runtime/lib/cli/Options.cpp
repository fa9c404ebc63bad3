// The option parser of the command line (see Options.h). Its messages are the ones users see after
// `error: `, so each names the option or argument at fault and the command it was given to.
#include "Options.h"


namespace attn::rt {

const std::vector<std::string> &ParsedOptions::all(const std::string &name) const {
  static const std::vector<std::string> none;
  auto it = values.find(name);
  return it == values.end() ? none : it->second;
}

Expected<ParsedOptions> parseOptions(const std::vector<std::string> &args,
                                     const std::vector<OptionSpec> &specs, const std::string &command) {
  ParsedOptions parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      return makeError("unexpected argument '", arg, "' for '", command, "'");
    auto [name, inlineValue] = splitNameValue(arg);
    const OptionSpec *spec = nullptr;
    for (const OptionSpec &s : specs)
      if (name == s.name)
        spec = &s;
    if (!spec)
      return makeError("unknown option '", name, "' for '", command, "'");
    std::string value;
    if (spec->flag) {
      if (inlineValue)
        return makeError("option '", name, "' takes no value");
      value = "1";
    } else if (inlineValue) {
      value = *inlineValue;
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      value = args[++i];
    } else {
      return makeError("option '", name, "' needs a value");
    }
    if (value.empty())
      return makeError("option '", name, "' needs a value");
    std::vector<std::string> &slot = parsed.values[name];
    if (!slot.empty() && !spec->repeatable)
      return makeError("option '", name, "' is given twice");
    slot.push_back(value);
  }
  return parsed;
}

NameValue splitNameValue(const std::string &text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos)
    return {text, std::nullopt};
  return {text.substr(0, eq), text.substr(eq + 1)};
}

} // namespace attn::rt
