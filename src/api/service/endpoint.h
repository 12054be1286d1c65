// The API's request path, from an HTTP request to its reply: read the RPC
// call, authenticate the caller (signature, key, nonce, time), throttle by
// AccessKey, find the action, parse every parameter into its command, honour
// DryRun and ClientToken, run the command, render the reply (JSON or XML)
// or Alibaba's error. Nothing runs before the whole request has parsed.
// One line per call goes to the log: action, account, code, time; never a
// secret, a signature or a body.
#pragma once

#include <functional>
#include <string>

#include "api/auth/authenticator.h"
#include "api/core/error.h"
#include "api/core/request.h"
#include "api/service/action_table.h"
#include "api/service/context.h"
#include "api/service/idempotency.h"

namespace tg::api {

// Checks the call's signature (Authenticator::Authenticate); `now` in unix
// seconds.
using AuthenticateFn =
    std::function<Task<ApiResult<Caller>>(const HttpRequest&, const RpcCall&, int64_t now)>;
// Takes a token from the AccessKey's bucket, or Throttling.
using ThrottleFn = std::function<ApiStatus(const std::string& access_key_id)>;

class ApiEndpoint {
 public:
  ApiEndpoint(Services& services, const ActionTable& table, AuthenticateFn authenticate,
              ThrottleFn throttle, Idempotency& idempotency, std::string host_id);

  Task<HttpResponse> Handle(HttpRequest request);

 private:
  // Everything after the call was read; `request_id` names it in replies.
  Task<ApiResult<Json>> Serve(const HttpRequest& request, RpcCall& call,
                              const std::string& request_id, std::string& account_id);

  Services& services_;
  const ActionTable& table_;
  AuthenticateFn authenticate_;
  ThrottleFn throttle_;
  Idempotency& idempotency_;
  std::string host_id_;
};

// A new request id in Alibaba's shape (8-4-4-4-12 upper-case hex).
std::string NewRequestId();

}  // namespace tg::api
