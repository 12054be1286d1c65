#include "api/service/endpoint.h"

#include <fmt/format.h>

#include <random>

#include "api/core/render.h"
#include "base/log.h"

namespace tg::api {

namespace {

auto Log() {
  static auto log = log::Get("api");
  return log;
}

int64_t UnixNow() {
  return static_cast<int64_t>(time(nullptr));
}

}  // namespace

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const uint64_t a = rng(), b = rng();
  return fmt::format("{:08X}-{:04X}-{:04X}-{:04X}-{:012X}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF,
                     b >> 48, b & 0xFFFFFFFFFFFFull);
}

ApiEndpoint::ApiEndpoint(Services& services, const ActionTable& table, AuthenticateFn authenticate,
                         ThrottleFn throttle, Idempotency& idempotency, std::string host_id)
    : services_(services),
      table_(table),
      authenticate_(std::move(authenticate)),
      throttle_(std::move(throttle)),
      idempotency_(idempotency),
      host_id_(std::move(host_id)) {}

Task<HttpResponse> ApiEndpoint::Handle(HttpRequest request) {
  const auto started = Clock::now();
  const std::string request_id = NewRequestId();
  std::string account_id = "-";
  auto call = ReadRpcCall(request);
  if (!call.ok()) {
    Log()->info("call rejected request={} peer={} code={}", request_id, request.peer,
                call.error().code);
    co_return RenderError(call.error(), request_id, host_id_, /*xml=*/false);
  }
  auto reply = co_await Serve(request, *call, request_id, account_id);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  if (!reply.ok()) {
    Log()->info("call {}.{} request={} account={} code={} status={} ms={}",
                ProductName(call->product), call->action, request_id, account_id,
                reply.error().code, reply.error().http_status, ms);
    co_return RenderError(reply.error(), request_id, host_id_, call->xml);
  }
  Log()->debug("call {}.{} request={} account={} ok ms={}", ProductName(call->product),
               call->action, request_id, account_id, ms);
  co_return RenderSuccess(call->action, request_id, std::move(reply).value(), call->xml);
}

Task<ApiResult<Json>> ApiEndpoint::Serve(const HttpRequest& request, RpcCall& call,
                                         const std::string& request_id, std::string& account_id) {
  const int64_t now = UnixNow();
  auto caller = co_await authenticate_(request, call, now);
  if (!caller.ok()) co_return caller.error();
  const Account account{
      .id = caller->account_id, .name = caller->account_name, .admin = caller->admin};
  account_id = account.id;
  TG_API_CO_RETURN_IF_ERROR(throttle_(caller->access_key_id));

  const ActionSpec* spec = table_.Find(call.product, call.action);
  if (!spec) {
    co_return Error(404, "InvalidAction.NotFound",
                    fmt::format("Specified api is not found, please check your url and method. "
                                "({} {} is not an action of this endpoint)",
                                ProductName(call.product), call.action));
  }
  Params& params = call.params;
  if (auto region = params.Optional("RegionId"); region && *region != services_.settings.region) {
    co_return Error(404, "InvalidRegionId.NotFound",
                    fmt::format("The specified RegionId does not exist: this cloud's region is "
                                "{}.",
                                services_.settings.region));
  }
  TG_API_CO_ASSIGN_OR_RETURN(std::optional<bool> dry_run, params.Bool("DryRun"));
  TG_API_CO_ASSIGN_OR_RETURN(std::optional<std::string> token, params.Ascii("ClientToken", 64));
  // Fingerprinted before parsing marks anything: the parameters as sent.
  const std::string fingerprint =
      CallFingerprint(fmt::format("{}.{}", ProductName(call.product), call.action), params);
  TG_API_CO_ASSIGN_OR_RETURN(PreparedAction run, spec->prepare(params));
  if (dry_run.value_or(false)) {
    co_return Error(400, "DryRunOperation",
                    "Request validation has been passed with DryRun flag set.");
  }

  CallContext ctx{services_, account, caller->access_key_id, request_id, now};
  if (!token) co_return co_await run(ctx);

  TG_API_CO_ASSIGN_OR_RETURN(TokenClaim claim,
                             co_await idempotency_.Claim(account.id, *token, fingerprint, now));
  if (claim.replay) co_return *claim.replay;
  auto reply = co_await run(ctx);
  std::optional<Json> kept;
  if (reply.ok()) kept = reply.value();
  Status finished = co_await idempotency_.Finish(account.id, *token, claim, kept);
  if (!finished.ok()) Log()->warn("client token not recorded request={}: {}", request_id, finished);
  co_return reply;
}

}  // namespace tg::api
