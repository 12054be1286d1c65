#include "api/service/idempotency.h"

#include <fmt/format.h>

#include <set>

#include "base/json_record.h"

namespace tg::api {

namespace {

using json = nlohmann::json;

// Fields that differ between two sends of one call.
bool VariesPerSend(std::string_view name) {
  static const std::set<std::string_view> kFields = {
      "Signature", "SignatureNonce", "Timestamp", "AccessKeyId", "SignatureMethod", "SignatureType",
      "SignatureVersion", "ClientToken", "Format", "SecurityToken",
      // Where the call goes (V1 sends them as parameters, V3 as x-acs-*
      // headers): the caller names the product and action instead.
      "Action", "Version"};
  return kFields.count(name) > 0;
}

// FNV-1a, 64 bits: stable across builds and servers (std::hash is not).
uint64_t Fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string TokenKey(std::string_view account, std::string_view token) {
  return fmt::format("{}{}/{}", kClientTokensPrefix, account, token);
}

// The token is printable ASCII (the parameter check ensures it); '/' would
// make the key name another account's, so it is escaped.
std::string SafeToken(std::string_view token) {
  std::string out;
  for (char c : token) {
    if (c == '/' || c == '%')
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out;
}

struct TokenRecord {
  std::string fingerprint;
  std::string state;  // "running" or "done"
  int64_t started_at = 0;
  Json reply;
};

std::string EncodeToken(const TokenRecord& t) {
  json j = {{"fingerprint", t.fingerprint},
            {"state", t.state},
            {"started_at", t.started_at},
            {"reply", json::parse(t.reply.dump())}};
  StampRecordFormat(j);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<TokenRecord> DecodeToken(std::string_view text) {
  // Replies may hold fractional numbers (MemorySize 0.5): checked as JSON,
  // not through the integer-only record decoder.
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("client token record is not JSON");
  try {
    TokenRecord t;
    t.fingerprint = j.at("fingerprint").get<std::string>();
    t.state = j.at("state").get<std::string>();
    t.started_at = j.at("started_at").get<int64_t>();
    t.reply = Json::parse(j.at("reply").dump());
    if (t.state != "running" && t.state != "done")
      return InvalidArgument("client token record: unknown state");
    return t;
  } catch (const std::exception& e) {
    return InvalidArgument("client token record: {}", e.what());
  }
}

}  // namespace

std::string CallFingerprint(std::string_view action, const Params& params) {
  uint64_t h = Fnv1a(action);
  for (const auto& [name, value] : params.values()) {
    if (VariesPerSend(name)) continue;
    h = Fnv1a("\x1f", h);
    h = Fnv1a(name, h);
    h = Fnv1a("=", h);
    h = Fnv1a(value, h);
  }
  return fmt::format("{:016x}", h);
}

Task<ApiResult<TokenClaim>> Idempotency::Claim(std::string account, std::string token,
                                               std::string fingerprint, int64_t now) {
  const std::string key = TokenKey(account, SafeToken(token));
  const int64_t abandon = std::chrono::duration_cast<std::chrono::seconds>(abandon_after_).count();
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = co_await client_.Get(key);
    if (!got.ok()) co_return FromStatus(got.status());
    TokenRecord mine{.fingerprint = fingerprint, .state = "running", .started_at = now};
    etcd::Txn txn;
    if (!got->kvs.empty()) {
      auto t = DecodeToken(got->kvs[0].value);
      if (!t.ok()) co_return InternalError(t.status().message());
      if (t->fingerprint != fingerprint) {
        co_return Error(400, "IdempotentParameterMismatch",
                        "The request uses the same client token as a previous, but "
                        "non-identical request.");
      }
      if (t->state == "done") co_return TokenClaim{.replay = t->reply};
      if (now - t->started_at < abandon) {
        co_return Error(403, "IdempotentProcessing",
                        "The previous idempotent request(s) is still processing.");
      }
      // The first call's server died mid-call: this one takes over.
      txn.compares.push_back(
          etcd::Compare::ModRevision(key, etcd::Compare::Op::kEqual, got->kvs[0].mod_revision));
    } else {
      txn.compares.push_back(etcd::Compare::Missing(key));
    }
    txn.then.push_back(etcd::TxnOp::Put(key, EncodeToken(mine)));
    auto r = co_await client_.Commit(std::move(txn));
    if (!r.ok()) co_return FromStatus(r.status());
    if (r->succeeded) co_return TokenClaim{.run = true, .revision = r->revision};
  }
  co_return Error(409, "OperationConflict", "The client token kept changing; retry.");
}

Task<Result<etcd::LeaseId>> Idempotency::KeepLease() {
  if (lease_ != 0 && Clock::now() - lease_granted_ < std::chrono::hours(1)) co_return lease_;
  auto lease = co_await client_.GrantLease(std::chrono::hours(25));
  if (!lease.ok()) co_return lease.status();
  lease_ = lease->id;
  lease_granted_ = Clock::now();
  co_return lease_;
}

Task<Status> Idempotency::Finish(std::string account, std::string token, const TokenClaim& claim,
                                 std::optional<Json> body) {
  const std::string key = TokenKey(account, SafeToken(token));
  etcd::Txn txn;
  txn.compares.push_back(
      etcd::Compare::ModRevision(key, etcd::Compare::Op::kEqual, claim.revision));
  if (body) {
    // Kept a day or a little more, as Alibaba keeps tokens; the lease frees the key.
    auto lease = co_await KeepLease();
    if (!lease.ok()) co_return lease.status();
    auto got = co_await client_.Get(key);
    if (!got.ok()) co_return got.status();
    if (got->kvs.empty()) co_return Status::Ok();
    auto t = DecodeToken(got->kvs[0].value);
    if (!t.ok()) co_return t.status();
    t->state = "done";
    t->reply = *body;
    txn.then.push_back(etcd::TxnOp::Put(key, EncodeToken(*t), *lease));
  } else {
    txn.then.push_back(etcd::TxnOp::Delete(key));
  }
  auto r = co_await client_.Commit(std::move(txn));
  if (!r.ok()) lease_ = 0;  // the lease may be gone (etcd restored): the next call grants one
  co_return r.status();
}

}  // namespace tg::api
