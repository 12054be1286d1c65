// The API's error: what Alibaba Cloud answers when a call fails, an HTTP
// status with a code clients match on ("InvalidVpcId.NotFound") and a
// message for people. Handlers return ApiResult<T>; a tg::Status from a
// store becomes an ApiError through FromStatus, with the codes the action
// names for each kind of failure (StatusCodes), so every failure a client
// sees carries Alibaba's code and HTTP status (docs/api.md lists them).
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/status.h"

namespace tg::api {

struct ApiError {
  int http_status = 400;
  std::string code;  // "MissingParameter", "InvalidInstanceId.NotFound", ...
  std::string message;
};

// Common errors (the fact sheet's section 6).
ApiError MissingParameter(std::string_view name);                        // 400 MissingParameter
ApiError InvalidParameter(std::string_view name, std::string_view why);  // 400 InvalidParameter
// 400 Invalid<Name>.Malformed (e.g. InvalidCidrBlock.Malformed).
ApiError Malformed(std::string_view name, std::string_view why);
// 404 Invalid<Kind>Id.NotFound, e.g. NotFound("Instance", "i-x").
ApiError NotFound(std::string_view kind, std::string_view id);
ApiError IncorrectStatus(std::string_view kind, std::string_view why);  // 403 Incorrect<Kind>Status
ApiError Error(int http_status, std::string code, std::string message);
ApiError InternalError(std::string_view why);  // 500 InternalError

// Which Alibaba code a store's failure becomes, per kind of failure; an
// unset entry falls back to the default below.
struct StatusCodes {
  std::optional<ApiError> invalid_argument;     // default: 400 InvalidParameter
  std::optional<ApiError> not_found;            // default: 404 InvalidParameter.NotFound
  std::optional<ApiError> already_exists;       // default: 400 InvalidParameter.Duplicate
  std::optional<ApiError> failed_precondition;  // default: 403 OperationDenied
  std::optional<ApiError> resource_exhausted;   // default: 403 QuotaExceed
};
// The status's message is kept (appended to the code's own message if it
// has one). Aborted → 409 OperationConflict, Unavailable/DeadlineExceeded →
// 503 ServiceUnavailable, Cancelled → 503 ServiceUnavailable, anything else
// → 500 InternalError.
ApiError FromStatus(const Status& status, const StatusCodes& codes = {});

// A value or an ApiError.
template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : state_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return state_.index() == 0; }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& value() const& { return std::get<0>(state_); }
  const ApiError& error() const { return std::get<1>(state_); }
  T* operator->() { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, ApiError> state_;
};

// No value: success or an error.
struct ApiOk {};
using ApiStatus = ApiResult<ApiOk>;
inline ApiStatus Ok() {
  return ApiOk{};
}

}  // namespace tg::api

#define TG_API_CONCAT_INNER(a, b) a##b
#define TG_API_CONCAT(a, b) TG_API_CONCAT_INNER(a, b)
// lhs = value of an ApiResult expression, or return its error.
#define TG_API_ASSIGN_IMPL(tmp, lhs, expr, ret) \
  auto tmp = (expr);                            \
  if (!tmp.ok()) ret tmp.error();               \
  lhs = std::move(tmp).value()
#define TG_API_ASSIGN_OR_RETURN(lhs, expr) \
  TG_API_ASSIGN_IMPL(TG_API_CONCAT(api_tmp_, __LINE__), lhs, expr, return )
#define TG_API_CO_ASSIGN_OR_RETURN(lhs, expr) \
  TG_API_ASSIGN_IMPL(TG_API_CONCAT(api_tmp_, __LINE__), lhs, expr, co_return )
#define TG_API_RETURN_IF_ERROR(expr)                   \
  do {                                                 \
    auto api_status_ = (expr);                         \
    if (!api_status_.ok()) return api_status_.error(); \
  } while (0)
#define TG_API_CO_RETURN_IF_ERROR(expr)                   \
  do {                                                    \
    auto api_status_ = (expr);                            \
    if (!api_status_.ok()) co_return api_status_.error(); \
  } while (0)
