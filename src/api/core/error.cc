#include "api/core/error.h"

namespace tg::api {

ApiError MissingParameter(std::string_view name) {
  return Error(400, "MissingParameter",
               fmt::format("The input parameter \"{}\" that is mandatory for processing this "
                           "request is not supplied.",
                           name));
}

ApiError InvalidParameter(std::string_view name, std::string_view why) {
  if (why.empty()) {
    return Error(400, "InvalidParameter",
                 fmt::format("The specified parameter \"{}\" is not valid.", name));
  }
  return Error(400, "InvalidParameter",
               fmt::format("The specified parameter \"{}\" is not valid: {}", name, why));
}

ApiError Malformed(std::string_view name, std::string_view why) {
  std::string message = fmt::format("The specified parameter \"{}\" is malformed.", name);
  if (!why.empty())
    message = fmt::format("The specified parameter \"{}\" is malformed: {}", name, why);
  return Error(400, fmt::format("Invalid{}.Malformed", name), std::move(message));
}

ApiError NotFound(std::string_view kind, std::string_view id) {
  return Error(404, fmt::format("Invalid{}Id.NotFound", kind),
               fmt::format("The specified {}Id \"{}\" does not exist.", kind, id));
}

ApiError IncorrectStatus(std::string_view kind, std::string_view why) {
  std::string message =
      fmt::format("The current status of the {} does not support this operation.", kind);
  if (!why.empty()) {
    message =
        fmt::format("The current status of the {} does not support this operation: {}", kind, why);
  }
  return Error(403, fmt::format("Incorrect{}Status", kind), std::move(message));
}

ApiError Error(int http_status, std::string code, std::string message) {
  return ApiError{http_status, std::move(code), std::move(message)};
}

ApiError InternalError(std::string_view why) {
  std::string message =
      "The request processing has failed due to some unknown error, exception or failure.";
  if (!why.empty()) message += fmt::format(" ({})", why);
  return Error(500, "InternalError", std::move(message));
}

namespace {

// The action's code for this kind of failure, or the fallback; the store's
// message follows the code's own one.
ApiError WithMessage(const std::optional<ApiError>& chosen, ApiError fallback,
                     const std::string& status_message) {
  ApiError error = chosen ? *chosen : std::move(fallback);
  if (error.message.empty()) {
    error.message = status_message;
  } else if (!status_message.empty()) {
    if (error.message.back() == '.') error.message.pop_back();
    error.message += ": " + status_message;
  }
  return error;
}

}  // namespace

ApiError FromStatus(const Status& status, const StatusCodes& codes) {
  const std::string& m = status.message();
  switch (status.code()) {
    case ErrorCode::kOk:
      return InternalError("an operation reported success as a failure");
    case ErrorCode::kInvalidArgument:
      return WithMessage(codes.invalid_argument, Error(400, "InvalidParameter", ""), m);
    case ErrorCode::kNotFound:
      return WithMessage(codes.not_found, Error(404, "InvalidParameter.NotFound", ""), m);
    case ErrorCode::kAlreadyExists:
      return WithMessage(codes.already_exists, Error(400, "InvalidParameter.Duplicate", ""), m);
    case ErrorCode::kFailedPrecondition:
      return WithMessage(codes.failed_precondition, Error(403, "OperationDenied", ""), m);
    case ErrorCode::kResourceExhausted:
      return WithMessage(codes.resource_exhausted, Error(403, "QuotaExceed", ""), m);
    case ErrorCode::kAborted:
      return WithMessage(std::nullopt,
                         Error(409, "OperationConflict",
                               "The request conflicts with a concurrent change; retry it"),
                         m);
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kCancelled:
      return WithMessage(std::nullopt,
                         Error(503, "ServiceUnavailable",
                               "The request has failed due to a temporary failure of the server"),
                         m);
    default:
      return WithMessage(std::nullopt,
                         Error(500, "InternalError",
                               "The request processing has failed due to some unknown error, "
                               "exception or failure"),
                         m);
  }
}

}  // namespace tg::api
