// The option syntax every command of a generated program shares: `--name value`, `--name=value`, flags
// without a value, repeatable options, and -h/--help; the `NAME=VALUE` arguments of --in and --vocab; and
// whole numbers in a range. Parsing returns errors as values, so the command line alone decides what to
// print and that a usage error exits with 2.
#ifndef ATTN_RUNTIME_CLI_OPTIONS_H
#define ATTN_RUNTIME_CLI_OPTIONS_H

#include "attn/Runtime/Error.h"
#include "attn/Runtime/Text.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace attn::rt {

/// The options of one command: each takes a value; `repeatable` ones may be given several times.
struct OptionSpec {
  const char *name;
  bool repeatable;
  bool flag = false; // takes no value
};

struct ParsedOptions {
  bool help = false;
  std::map<std::string, std::vector<std::string>> values;

  const std::string *get(const std::string &name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second.front();
  }
  /// Every value of option `name`, in the order given (none if it is not given).
  const std::vector<std::string> &all(const std::string &name) const;
};

/// Parses `--name value` and `--name=value` pairs, and -h/--help.
Expected<ParsedOptions> parseOptions(const std::vector<std::string> &args,
                                     const std::vector<OptionSpec> &specs, const std::string &command);

/// `NAME=VALUE` split at its first '=': the name, and the value when there is an '='.
struct NameValue {
  std::string name;
  std::optional<std::string> value;

  /// Whether both sides are there, as `--in NAME=FILE` needs.
  bool complete() const { return !name.empty() && value && !value->empty(); }
};
NameValue splitNameValue(const std::string &text);


} // namespace attn::rt

#endif // ATTN_RUNTIME_CLI_OPTIONS_H
