#include "etcd/grpc_bridge.h"

namespace tg::etcd::detail {

Status FromGrpc(const grpc::Status& s, std::string_view what) {
  ErrorCode code;
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::CANCELLED:
      code = ErrorCode::kCancelled;
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
      code = ErrorCode::kInvalidArgument;
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      code = ErrorCode::kDeadlineExceeded;
      break;
    case grpc::StatusCode::NOT_FOUND:
      code = ErrorCode::kNotFound;
      break;
    case grpc::StatusCode::ALREADY_EXISTS:
      code = ErrorCode::kAlreadyExists;
      break;
    case grpc::StatusCode::PERMISSION_DENIED:
      code = ErrorCode::kPermissionDenied;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      code = ErrorCode::kResourceExhausted;
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      code = ErrorCode::kFailedPrecondition;
      break;
    case grpc::StatusCode::ABORTED:
      code = ErrorCode::kAborted;
      break;
    case grpc::StatusCode::OUT_OF_RANGE:
      code = ErrorCode::kOutOfRange;
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      code = ErrorCode::kUnimplemented;
      break;
    case grpc::StatusCode::UNAVAILABLE:
      code = ErrorCode::kUnavailable;
      break;
    case grpc::StatusCode::DATA_LOSS:
      code = ErrorCode::kDataLoss;
      break;
    default:
      code = ErrorCode::kInternal;
      break;
  }
  return Status(code, fmt::format("{}: {}", what, s.error_message()));
}

bool CallTracker::Add(uint64_t id, std::function<void()> cancel) {
  std::lock_guard lock(mu_);
  if (shut_down_) return false;
  live_.emplace(id, std::move(cancel));
  return true;
}

void CallTracker::Remove(uint64_t id) {
  std::function<void()> dropped;  // destroyed outside the lock: it may own the call
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return;
    dropped = std::move(it->second);
    live_.erase(it);
    // Under the lock: once the waiter sees an empty map it may destroy us.
    cv_.notify_all();
  }
}

void CallTracker::CancelAllAndWait() {
  std::vector<std::function<void()>> cancels;
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
    for (auto& [id, c] : live_) cancels.push_back(c);
  }
  // Outside the lock: gRPC may run a callback (and so Remove) inline.
  for (auto& c : cancels) c();
  cancels.clear();
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return live_.empty(); });
}

}  // namespace tg::etcd::detail
