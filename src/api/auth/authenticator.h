// Who is calling: the AccessKey a request is signed with, checked against
// its secret, and the account it belongs to.
//
// V3 (ACS3-HMAC-SHA256) when the Authorization header starts with that
// algorithm, else V1 (HMAC-SHA1 in the parameters). Besides the signature,
// a request must be recent (its Timestamp or x-acs-date within 15 minutes
// of the server's clock, either way) and its nonce new: every accepted
// nonce is recorded in etcd (/tiangong/api/nonces/<AccessKeyId>/<nonce>,
// created only if missing) under a lease that outlives the time window, so
// every server of the cluster refuses a replay, and the records expire on
// their own. The nonce is recorded only after the signature matched, so an
// unsigned request cannot use up a client's nonces.
//
// Keys are cached in memory for at most `key_cache_ttl` (2 s), so a key
// disabled or deleted stops working within that time without an etcd read
// per request. An unknown key is cached as unknown for as long (a key
// created just after a request named it works up to 2 s later). Nothing
// here logs a secret or a signature.
//
// Errors (Alibaba's codes): MissingParameter (a V1 signature field or a V3
// header absent), IncompleteSignature (a malformed Authorization header, a
// header that must be signed and is not, a body whose hash is not
// x-acs-content-sha256), InvalidParameter (SignatureMethod, SignatureVersion,
// nonce format), IllegalTimestamp, InvalidAccessKeyId.NotFound (404),
// Forbidden.AccessKeyDisabled (403), SignatureDoesNotMatch (with the
// server's string to sign), SignatureNonceUsed; all 400 unless noted.
//
// Thread-safety: belongs to the etcd client's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "api/auth/accounts.h"
#include "api/core/error.h"
#include "api/core/request.h"
#include "etcd/client.h"

namespace tg::api {

inline constexpr std::string_view kNoncesPrefix = "/tiangong/api/nonces/";

struct Caller {
  std::string account_id;
  std::string account_name;
  bool admin = false;
  std::string access_key_id;
};

struct AuthenticatorOptions {
  // How far a request's time may be from the server's, either way.
  std::chrono::seconds max_clock_skew{15 * 60};
  // How long a key read from etcd is trusted; 0: read on every request.
  std::chrono::milliseconds key_cache_ttl{2000};
  // A nonce must be remembered as long as its request could pass the time
  // check: up to 2 * max_clock_skew after it was recorded (a request dated
  // max_clock_skew ahead can be replayed until max_clock_skew after its
  // date). The lease's TTL covers that plus one rotation.
  std::chrono::seconds nonce_lease_ttl{31 * 60};
  // A new nonce lease is granted this often (nonces go under the newest).
  std::chrono::seconds nonce_lease_rotation{60};
};

class Authenticator {
 public:
  Authenticator(etcd::Client& etcd, AccountStore& accounts, AuthenticatorOptions options = {});

  // `call` is ReadRpcCall(request); `now_unix` the server's time in unix
  // seconds.
  Task<ApiResult<Caller>> Authenticate(const HttpRequest& request, const RpcCall& call,
                                       int64_t now_unix);

  // Forgets every cached key (tests; an admin command that must act at once).
  void ClearKeyCache() { key_cache_.clear(); }

 private:
  struct Signed {  // what either version yields before the key is known
    std::string access_key_id;
    std::string nonce;
  };
  struct CachedKey {
    std::optional<KeyIdentity> identity;  // nullopt: no such key
    std::chrono::steady_clock::time_point fetched;
  };

  Task<ApiResult<KeyIdentity>> FindKey(const std::string& access_key_id);
  Task<ApiStatus> RecordNonce(const std::string& access_key_id, const std::string& nonce);
  Task<Result<etcd::LeaseId>> NonceLease(bool renew);

  etcd::Client& etcd_;
  AccountStore& accounts_;
  AuthenticatorOptions options_;
  std::unordered_map<std::string, CachedKey> key_cache_;
  etcd::LeaseId nonce_lease_ = 0;
  std::chrono::steady_clock::time_point nonce_lease_granted_{};
};

// "2026-12-01T12:00:00Z" (also with fractional seconds) in unix seconds;
// nullopt when it is not that form or not a real time.
std::optional<int64_t> ParseIso8601Utc(std::string_view text);

}  // namespace tg::api
