#include "api/auth/authenticator.h"

#include <algorithm>

#include "api/auth/signature.h"

namespace tg::api {

namespace {

// Bounds what one server keeps of keys looked up (unknown ones included).
constexpr size_t kMaxCachedKeys = 10000;
constexpr size_t kMaxNonceLength = 128;

ApiError IllegalTimestamp(std::string_view why) {
  return Error(400, "IllegalTimestamp", fmt::format("Specified time stamp or date value {}.", why));
}

ApiError SignatureDoesNotMatch(std::string_view string_to_sign) {
  return Error(400, "SignatureDoesNotMatch",
               fmt::format("Specified signature is not matched with our calculation. server "
                           "string to sign is:{}",
                           string_to_sign));
}

ApiError Incomplete(std::string_view why) {
  return Error(400, "IncompleteSignature",
               fmt::format("The request signature does not conform to Aliyun standards: {}", why));
}

bool IsNonceChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// The nonce names an etcd key: only characters that cannot change the path.
ApiStatus CheckNonce(std::string_view nonce, std::string_view name) {
  if (nonce.empty()) return MissingParameter(name);
  if (nonce.size() > kMaxNonceLength || !std::all_of(nonce.begin(), nonce.end(), IsNonceChar)) {
    return InvalidParameter(name, "a nonce is at most 128 letters, digits, '-', '_' and '.'");
  }
  return Ok();
}

ApiStatus CheckTime(std::string_view text, int64_t now, std::chrono::seconds skew) {
  std::optional<int64_t> t = ParseIso8601Utc(text);
  if (!t) return IllegalTimestamp("is not in the UTC form yyyy-MM-ddTHH:mm:ssZ");
  if (*t > now + skew.count()) return IllegalTimestamp("is too far in the future");
  if (*t < now - skew.count()) return IllegalTimestamp("has expired");
  return Ok();
}

const std::string* Find(const std::map<std::string, std::string>& m, const std::string& name) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool ReadDigits(std::string_view s, size_t at, size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<int64_t> ParseIso8601Utc(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || s.size() > 40) return std::nullopt;
  if (!ReadDigits(s, 0, 4, year) || s[4] != '-' || !ReadDigits(s, 5, 2, month) || s[7] != '-' ||
      !ReadDigits(s, 8, 2, day) || s[10] != 'T' || !ReadDigits(s, 11, 2, hour) || s[13] != ':' ||
      !ReadDigits(s, 14, 2, minute) || s[16] != ':' || !ReadDigits(s, 17, 2, second)) {
    return std::nullopt;
  }
  size_t at = 19;
  if (s[at] == '.') {
    ++at;
    size_t digits = 0;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at, ++digits;
    if (digits == 0) return std::nullopt;
  }
  if (at + 1 != s.size() || s[at] != 'Z') return std::nullopt;
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return std::nullopt;
  return DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second;
}

Authenticator::Authenticator(etcd::Client& etcd, AccountStore& accounts,
                             AuthenticatorOptions options)
    : etcd_(etcd), accounts_(accounts), options_(options) {}

Task<ApiResult<KeyIdentity>> Authenticator::FindKey(const std::string& access_key_id) {
  auto not_found = [&] {
    return Error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.");
  };
  if (!IsWellFormedAccessKeyId(access_key_id)) co_return not_found();
  const auto now = std::chrono::steady_clock::now();
  if (auto it = key_cache_.find(access_key_id);
      it != key_cache_.end() && now - it->second.fetched < options_.key_cache_ttl) {
    if (!it->second.identity) co_return not_found();
    co_return *it->second.identity;
  }
  Result<KeyIdentity> found = co_await accounts_.Lookup(access_key_id);
  std::optional<KeyIdentity> identity;
  if (found.ok()) {
    identity = *found;
  } else if (found.status().code() != ErrorCode::kNotFound) {
    co_return FromStatus(found.status());
  }
  if (options_.key_cache_ttl.count() > 0) {
    if (key_cache_.size() >= kMaxCachedKeys) key_cache_.clear();
    key_cache_[access_key_id] = CachedKey{identity, now};
  }
  if (!identity) co_return not_found();
  co_return *identity;
}

Task<Result<etcd::LeaseId>> Authenticator::NonceLease(bool renew) {
  const auto now = std::chrono::steady_clock::now();
  if (renew || nonce_lease_ == 0 || now - nonce_lease_granted_ >= options_.nonce_lease_rotation) {
    TG_CO_ASSIGN_OR_RETURN(etcd::Lease lease, co_await etcd_.GrantLease(options_.nonce_lease_ttl));
    nonce_lease_ = lease.id;
    nonce_lease_granted_ = now;
  }
  co_return nonce_lease_;
}

Task<ApiStatus> Authenticator::RecordNonce(const std::string& access_key_id,
                                           const std::string& nonce) {
  const std::string key = fmt::format("{}{}/{}", kNoncesPrefix, access_key_id, nonce);
  Status last;
  // A second try with a fresh lease: the current one may have been lost
  // (etcd restored, the lease revoked).
  for (bool renew : {false, true}) {
    Result<etcd::LeaseId> lease = co_await NonceLease(renew);
    if (!lease.ok()) co_return FromStatus(lease.status());
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Missing(key));
    txn.then.push_back(etcd::TxnOp::Put(key, "", *lease));
    Result<etcd::TxnResult> r = co_await etcd_.Commit(std::move(txn));
    if (r.ok()) {
      if (!r->succeeded)
        co_return Error(400, "SignatureNonceUsed", "Specified signature nonce was used already.");
      co_return Ok();
    }
    last = r.status();
  }
  co_return FromStatus(last);
}

Task<ApiResult<Caller>> Authenticator::Authenticate(const HttpRequest& request, const RpcCall& call,
                                                    int64_t now_unix) {
  const std::map<std::string, std::string>& headers = request.headers;
  const std::string* authorization = Find(headers, "authorization");
  const bool v3 =
      authorization != nullptr && authorization->substr(0, kV3Algorithm.size()) == kV3Algorithm;

  std::string access_key_id, nonce;
  ApiResult<KeyIdentity> identity = InternalError("no key looked up");
  if (v3) {
    TG_API_CO_ASSIGN_OR_RETURN(V3Authorization auth, ParseV3Authorization(*authorization));
    for (std::string_view name :
         {"x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256", "host"}) {
      const std::string* value = Find(headers, std::string(name));
      if (value == nullptr || value->empty()) co_return MissingParameter(name);
    }
    // What routes and shapes the call must be signed: the host, every
    // x-acs-* header (action, version, date, nonce, body hash) and the body's
    // content type.
    for (const auto& [name, value] : headers) {
      bool must = name == "host" || name == "content-type" || name.rfind("x-acs-", 0) == 0;
      if (must && std::find(auth.signed_headers.begin(), auth.signed_headers.end(), name) ==
                      auth.signed_headers.end()) {
        co_return Incomplete(fmt::format("header {} must be in SignedHeaders", name));
      }
    }
    const std::string hashed_payload = Sha256Hex(request.body);
    if (Lower(headers.at("x-acs-content-sha256")) != hashed_payload)
      co_return Incomplete("x-acs-content-sha256 is not the hex SHA-256 of the request body");
    TG_API_CO_RETURN_IF_ERROR(
        CheckTime(headers.at("x-acs-date"), now_unix, options_.max_clock_skew));
    nonce = headers.at("x-acs-signature-nonce");
    TG_API_CO_RETURN_IF_ERROR(CheckNonce(nonce, "x-acs-signature-nonce"));
    access_key_id = auth.access_key_id;

    identity = co_await FindKey(access_key_id);
    if (!identity.ok()) co_return identity.error();
    if (identity->key.status != AccessKeyStatus::kActive)
      co_return Error(403, "Forbidden.AccessKeyDisabled", "The Access Key is disabled.");
    V3Request signed_request{.method = request.method,
                             .path = call.path,
                             .query = &call.query,
                             .headers = &headers,
                             .signed_headers = &auth.signed_headers,
                             .hashed_payload = hashed_payload};
    V3Signature expected = SignV3(signed_request, identity->key.secret);
    if (!ConstantTimeEquals(expected.signature, auth.signature))
      co_return SignatureDoesNotMatch(expected.string_to_sign);
  } else {
    const std::map<std::string, std::string>& params = call.params.values();
    for (std::string_view name :
         {"AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp"}) {
      const std::string* value = Find(params, std::string(name));
      if (value == nullptr || value->empty()) co_return MissingParameter(name);
    }
    if (params.at("SignatureMethod") != kV1Method)
      co_return InvalidParameter("SignatureMethod", "only HMAC-SHA1 is supported");
    if (const std::string* version = Find(params, "SignatureVersion");
        version != nullptr && *version != kV1Version) {
      co_return InvalidParameter("SignatureVersion", "only 1.0 is supported");
    }
    if (const std::string* type = Find(params, "SignatureType"); type != nullptr && !type->empty())
      co_return InvalidParameter("SignatureType",
                                 "only the empty type (an AccessKey) is supported");
    TG_API_CO_RETURN_IF_ERROR(CheckTime(params.at("Timestamp"), now_unix, options_.max_clock_skew));
    nonce = params.at("SignatureNonce");
    TG_API_CO_RETURN_IF_ERROR(CheckNonce(nonce, "SignatureNonce"));
    access_key_id = params.at("AccessKeyId");

    identity = co_await FindKey(access_key_id);
    if (!identity.ok()) co_return identity.error();
    if (identity->key.status != AccessKeyStatus::kActive)
      co_return Error(403, "Forbidden.AccessKeyDisabled", "The Access Key is disabled.");
    V1Signature expected = SignV1(request.method, params, identity->key.secret);
    if (!ConstantTimeEquals(expected.signature, params.at("Signature")))
      co_return SignatureDoesNotMatch(expected.string_to_sign);
  }

  ApiStatus fresh = co_await RecordNonce(access_key_id, nonce);
  if (!fresh.ok()) co_return fresh.error();
  const KeyIdentity& who = identity.value();
  Caller caller{.account_id = who.account.id,
                .account_name = who.account.name,
                .admin = who.account.admin,
                .access_key_id = who.key.id};
  co_return caller;
}

}  // namespace tg::api
