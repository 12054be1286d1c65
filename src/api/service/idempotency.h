// ClientToken idempotency: a call with a ClientToken runs once per account
// and token; a retry with the same token and the same parameters gets the
// first call's reply, one with other parameters IdempotentParameterMismatch
// (400). A token whose first call is still running gets
// IdempotentProcessing (403); one whose call failed may be used again.
//
// Kept in etcd (/tiangong/api/client-tokens/<account>/<token>) so every
// server of a cluster agrees: the claim is a create conditioned on the key
// missing, so of two concurrent calls with one token exactly one runs.
// A claim that was never finished (the server died mid-call) is taken over
// after `abandon_after`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/core/error.h"
#include "api/core/json.h"
#include "api/core/params.h"
#include "base/asio.h"
#include "etcd/client.h"

namespace tg::api {

inline constexpr std::string_view kClientTokensPrefix = "/tiangong/api/client-tokens/";

// What identifies a call's parameters: the action (product-qualified, e.g.
// "Vpc.CreateVpc") and every parameter but the signature, timing, token and
// routing (Action, Version) fields, hashed: the same call signed V1 or V3
// has the same fingerprint.
std::string CallFingerprint(std::string_view action, const Params& params);

struct TokenClaim {
  bool run = false;            // the caller runs the call (and then Finish()es it)
  std::optional<Json> replay;  // or the first call's reply, to send again
  int64_t revision = 0;        // of the claim, for Finish
};

class Idempotency {
 public:
  explicit Idempotency(etcd::Client& client, Duration abandon_after = std::chrono::minutes(2))
      : client_(client), abandon_after_(abandon_after) {}

  Task<ApiResult<TokenClaim>> Claim(std::string account, std::string token, std::string fingerprint,
                                    int64_t now);
  // Stores the reply (`body`, without RequestId) of a call that succeeded,
  // kept for a day; or releases the token of a call that failed.
  Task<Status> Finish(std::string account, std::string token, const TokenClaim& claim,
                      std::optional<Json> body);

 private:
  // The lease finished tokens go under: one per hour, not one per call (a
  // grant is an etcd round trip, and every lease is state etcd keeps).
  Task<Result<etcd::LeaseId>> KeepLease();

  etcd::Client& client_;
  Duration abandon_after_;
  etcd::LeaseId lease_ = 0;
  TimePoint lease_granted_{};
};

}  // namespace tg::api
