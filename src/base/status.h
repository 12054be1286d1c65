// Status and Result<T>: the one error type of the project.
//
// Every fallible call returns a Status (or a Result<T> carrying a value or a
// Status). Exceptions never cross a subsystem boundary: OS errors, gRPC status
// codes and protocol error codes are converted into a Status where they enter.
// Both types are cheap values and must not be ignored ([[nodiscard]]).
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tg {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // the caller sent something malformed
  kNotFound,            // the thing named does not exist
  kAlreadyExists,       // the thing to create is already there
  kFailedPrecondition,  // a compare-and-swap or state check did not hold
  kAborted,             // a concurrent change won; retrying the whole step may succeed
  kUnavailable,         // a peer cannot be reached right now; retry may succeed
  kDeadlineExceeded,    // the operation did not finish in time
  kCancelled,           // the operation was cancelled (shutdown, lost leadership)
  kPermissionDenied,
  kResourceExhausted,
  kOutOfRange,
  kUnimplemented,
  kDataLoss,  // stored data is corrupt or lost
  kIoError,   // the local OS refused (errno attached in the message)
  kInternal,  // a bug: an invariant did not hold
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "Unavailable: etcd at 127.0.0.1:2379 refused the connection"
  std::string ToString() const;

  // Adds what the caller was doing in front of the message, keeping the code.
  Status Annotate(std::string_view context) const;

  // Marks a status as deliberately dropped.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline std::ostream& operator<<(std::ostream& os, const Status& s) {
  return os << s.ToString();
}

// Shorthands with fmt-style formatting: InvalidArgument("bad port {}", p).
#define TG_STATUS_FACTORY(Name)                                                          \
  template <typename... Args>                                                            \
  Status Name(fmt::format_string<Args...> format, Args&&... args) {                      \
    return Status(ErrorCode::k##Name, fmt::format(format, std::forward<Args>(args)...)); \
  }
TG_STATUS_FACTORY(InvalidArgument)
TG_STATUS_FACTORY(NotFound)
TG_STATUS_FACTORY(AlreadyExists)
TG_STATUS_FACTORY(FailedPrecondition)
TG_STATUS_FACTORY(Aborted)
TG_STATUS_FACTORY(Unavailable)
TG_STATUS_FACTORY(DeadlineExceeded)
TG_STATUS_FACTORY(Cancelled)
TG_STATUS_FACTORY(OutOfRange)
TG_STATUS_FACTORY(Unimplemented)
TG_STATUS_FACTORY(DataLoss)
TG_STATUS_FACTORY(Internal)
TG_STATUS_FACTORY(ResourceExhausted)
#undef TG_STATUS_FACTORY

// Converts an errno value: IoError("open /x: No such file or directory").
Status ErrnoStatus(int err, std::string_view what);

// Holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  // Only for frameworks that need a default (asio's co_spawn): an Internal error.
  Result() : state_(Status(ErrorCode::kInternal, "result never set")) {}
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "Result needs a value or an error");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(state_);
  }

  // REQUIRES: ok()
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  T value_or(T fallback) const { return ok() ? std::get<T>(state_) : std::move(fallback); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace tg

template <>
struct fmt::formatter<tg::Status> : fmt::formatter<std::string> {
  auto format(const tg::Status& s, format_context& ctx) const {
    return fmt::formatter<std::string>::format(s.ToString(), ctx);
  }
};

// Early return on error, in plain functions and in coroutines.
#define TG_CONCAT_INNER(a, b) a##b
#define TG_CONCAT(a, b) TG_CONCAT_INNER(a, b)

#define TG_RETURN_IF_ERROR(expr)                          \
  do {                                                    \
    if (::tg::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)
#define TG_CO_RETURN_IF_ERROR(expr)                          \
  do {                                                       \
    if (::tg::Status _st = (expr); !_st.ok()) co_return _st; \
  } while (0)

#define TG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, ret) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) ret tmp.status();                    \
  lhs = std::move(tmp).value()
#define TG_ASSIGN_OR_RETURN(lhs, expr) \
  TG_ASSIGN_OR_RETURN_IMPL(TG_CONCAT(_result_, __LINE__), lhs, expr, return )
#define TG_CO_ASSIGN_OR_RETURN(lhs, expr) \
  TG_ASSIGN_OR_RETURN_IMPL(TG_CONCAT(_result_, __LINE__), lhs, expr, co_return )
