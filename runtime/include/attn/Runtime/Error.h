// Errors as values for the runtime library. A compiled model meets bad input of every kind (a truncated
// weight file, an input of the wrong shape), and only the command line decides what to print and which exit
// code to return, so library functions return a Status or an Expected<T> whose message names the file, the
// tensor and what was wrong, instead of printing, throwing or aborting.
#ifndef ATTN_RUNTIME_ERROR_H
#define ATTN_RUNTIME_ERROR_H

#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace attn::rt {

struct Error {
  std::string message;
};

/// Builds an Error whose message is the concatenation of `parts`, each written with operator<<.
template <typename... Parts> Error makeError(const Parts &...parts) {
  std::ostringstream os;
  (os << ... << parts);
  return Error{os.str()};
}

/// Success, or an Error.
class [[nodiscard]] Status {
public:
  Status() = default;
  Status(Error error) : message_(std::move(error.message)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string &message() const { return message_; }
  Error takeError() { return Error{std::move(message_)}; }

private:
  std::string message_;
  bool failed_ = false;
};

/// A T, or an Error.
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T &operator*() { return std::get<0>(storage_); }
  const T &operator*() const { return std::get<0>(storage_); }
  T *operator->() { return &std::get<0>(storage_); }
  const T *operator->() const { return &std::get<0>(storage_); }

  const std::string &message() const { return std::get<1>(storage_).message; }
  Error takeError() { return std::move(std::get<1>(storage_)); }

private:
  std::variant<T, Error> storage_;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_ERROR_H
