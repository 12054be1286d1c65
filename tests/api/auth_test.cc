// Accounts, AccessKeys and Authenticate against a real etcd. The requests
// are the official SDKs' (signature_vectors.json), authenticated with a key
// created with the vectors' id and secret, at the time each was signed.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/auth/accounts.h"
#include "api/auth/authenticator.h"
#include "api/auth/signature.h"
#include "api/core/request.h"
#include "support/etcd_fixture.h"

namespace tg::api {
namespace {

using namespace std::chrono_literals;
using testing::RunTask;

struct Capture {
  std::string label;
  HttpRequest request;
};

struct Vectors {
  FixedAccessKey key;
  std::vector<Capture> captures;
};

Vectors LoadVectors() {
  std::ifstream f(TG_API_SIGNATURE_VECTORS);
  std::stringstream s;
  s << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(s.str());
  Vectors v{{j.at("access_key_id"), j.at("access_key_secret")}, {}};
  for (const auto& c : j.at("captures")) {
    HttpRequest r;
    r.method = c.at("method");
    r.target = c.at("target");
    r.body = c.at("body");
    for (const auto& [name, value] : c.at("headers").items()) r.headers[name] = value;
    v.captures.push_back({c.at("label"), std::move(r)});
  }
  return v;
}

RpcCall Read(const HttpRequest& r) {
  auto call = ReadRpcCall(r);
  EXPECT_TRUE(call.ok()) << call.error().message;
  return call.ok() ? *call : RpcCall{};
}

// When the request was signed (its Timestamp or x-acs-date).
int64_t SignedAt(const HttpRequest& r) {
  auto date = r.headers.find("x-acs-date");
  if (date != r.headers.end() && r.headers.count("authorization")) {
    return ParseIso8601Utc(date->second).value();
  }
  return ParseIso8601Utc(Read(r).params.values().at("Timestamp")).value();
}

std::string FormatTime(int64_t unix) {
  std::time_t t = unix;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A V1 GET signed here (the vectors show SignV1 is the SDKs').
HttpRequest SignedV1(const FixedAccessKey& key, const std::string& nonce, int64_t at) {
  std::map<std::string, std::string> params = {
      {"Action", "DescribeRegions"}, {"Version", "2014-05-26"},        {"Format", "JSON"},
      {"AccessKeyId", key.id},       {"SignatureMethod", "HMAC-SHA1"}, {"SignatureVersion", "1.0"},
      {"SignatureNonce", nonce},     {"Timestamp", FormatTime(at)}};
  params["Signature"] = SignV1("GET", params, key.secret).signature;
  std::string target = "/?";
  for (const auto& [name, value] : params) {
    if (target.size() > 2) target += '&';
    target += PercentEncode(name) + "=" + PercentEncode(value);
  }
  HttpRequest r;
  r.method = "GET";
  r.target = target;
  r.headers["host"] = "127.0.0.1";
  return r;
}

class AuthTest : public testing::EtcdFixture {
 protected:
  void SetUp() override {
    EtcdFixture::SetUp();
    accounts_ = std::make_unique<AccountStore>(*client_);
  }
  void TearDown() override {
    accounts_.reset();
    EtcdFixture::TearDown();
  }

  template <typename T>
  T Run(Task<T> task) {
    return RunTask(io_, std::move(task));
  }

  AccountRecord MakeAccount(const std::string& name, bool admin = false) {
    auto a = Run(accounts_->CreateAccount(name, admin));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : AccountRecord{};
  }

  ApiResult<Caller> Authenticate(Authenticator& auth, const HttpRequest& r, int64_t now) {
    RpcCall call = Read(r);
    // ApiResult has no default, which RunTask needs: carry it in an optional.
    auto task = [&]() -> Task<std::optional<ApiResult<Caller>>> {
      ApiResult<Caller> result = co_await auth.Authenticate(r, call, now);
      co_return result;
    };
    return *Run(task());
  }

  std::unique_ptr<AccountStore> accounts_;
};

TEST_F(AuthTest, AccountsAndAccessKeys) {
  AccountRecord alice = MakeAccount("alice");
  EXPECT_EQ(alice.id.substr(0, 4), "acc-");
  EXPECT_EQ(alice.id.size(), 24u);
  EXPECT_FALSE(alice.admin);
  AccountRecord root = MakeAccount("root", true);
  EXPECT_TRUE(root.admin);

  auto dup = Run(accounts_->CreateAccount("alice", true));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), ErrorCode::kAlreadyExists);
  for (std::string bad : {std::string(""), std::string("a/b"), std::string("acc-x"),
                          std::string(65, 'a'), std::string("-a"), std::string("a b")}) {
    auto r = Run(accounts_->CreateAccount(bad, false));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
  }

  auto list = Run(accounts_->ListAccounts());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alice");
  EXPECT_EQ((*list)[1].name, "root");
  auto by_id = Run(accounts_->GetAccount(alice.id));
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->name, "alice");

  auto k1 = Run(accounts_->CreateAccessKey("alice"));
  ASSERT_TRUE(k1.ok()) << k1.status();
  EXPECT_EQ(k1->id.substr(0, 4), "LTAI");
  EXPECT_EQ(k1->id.size(), 24u);
  EXPECT_EQ(k1->secret.size(), 30u);
  EXPECT_EQ(k1->account_id, alice.id);
  EXPECT_EQ(k1->status, AccessKeyStatus::kActive);
  auto k2 = Run(accounts_->CreateAccessKey(root.id));
  ASSERT_TRUE(k2.ok());
  EXPECT_NE(k1->id, k2->id);
  auto fixed =
      Run(accounts_->CreateAccessKey("alice", FixedAccessKey{"LTAIfixed0001", "s3cret-xyz"}));
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  auto again =
      Run(accounts_->CreateAccessKey("root", FixedAccessKey{"LTAIfixed0001", "other1234"}));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists);
  auto bad_fixed = Run(accounts_->CreateAccessKey("root", FixedAccessKey{"LTAI/x", "other1234"}));
  EXPECT_EQ(bad_fixed.status().code(), ErrorCode::kInvalidArgument);
  auto nobody = Run(accounts_->CreateAccessKey("nobody"));
  EXPECT_EQ(nobody.status().code(), ErrorCode::kNotFound);

  auto all = Run(accounts_->ListAccessKeys());
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  for (const auto& k : *all) EXPECT_TRUE(k.secret.empty()) << k.id;
  auto alices = Run(accounts_->ListAccessKeys("alice"));
  ASSERT_TRUE(alices.ok());
  EXPECT_EQ(alices->size(), 2u);

  auto found = Run(accounts_->Lookup(k1->id));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->key.secret, k1->secret);
  EXPECT_EQ(found->account.name, "alice");

  ASSERT_TRUE(Run(accounts_->SetAccessKeyStatus(k1->id, AccessKeyStatus::kInactive)).ok());
  found = Run(accounts_->Lookup(k1->id));
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->key.status, AccessKeyStatus::kInactive);
  ASSERT_TRUE(Run(accounts_->SetAccessKeyStatus(k1->id, AccessKeyStatus::kActive)).ok());
  EXPECT_EQ(Run(accounts_->Lookup(k1->id))->key.status, AccessKeyStatus::kActive);
  EXPECT_EQ(Run(accounts_->SetAccessKeyStatus("LTAInone", AccessKeyStatus::kActive)).code(),
            ErrorCode::kNotFound);

  ASSERT_TRUE(Run(accounts_->DeleteAccessKey(k2->id)).ok());
  EXPECT_EQ(Run(accounts_->Lookup(k2->id)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(accounts_->DeleteAccessKey(k2->id)).code(), ErrorCode::kNotFound);

  // An account that owns a resource is kept; without it, it goes with its keys.
  std::string resource = std::string(kAccountResourcesPrefix) + alice.id + "/vpc-1";
  ASSERT_TRUE(Run(client_->Put(resource, "{}")).ok());
  EXPECT_EQ(Run(accounts_->DeleteAccount("alice")).code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(Run(client_->Delete(resource)).ok());
  ASSERT_TRUE(Run(accounts_->DeleteAccount("alice")).ok());
  EXPECT_EQ(Run(accounts_->GetAccount("alice")).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(accounts_->GetAccount(alice.id)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(accounts_->Lookup(k1->id)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(accounts_->Lookup("LTAIfixed0001")).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Run(accounts_->ListAccessKeys())->size(), 0u);
  // The name is free again.
  MakeAccount("alice");
  EXPECT_EQ(Run(accounts_->DeleteAccount(root.id)).code(), ErrorCode::kOk);
}

TEST_F(AuthTest, EveryCapturedRequestAuthenticatesOnce) {
  Vectors v = LoadVectors();
  AccountRecord a = MakeAccount("vectors", true);
  ASSERT_TRUE(Run(accounts_->CreateAccessKey(a.name, v.key)).ok());
  Authenticator auth(*client_, *accounts_);
  // A second server of the cluster: its own cache and leases, the same etcd.
  Authenticator other(*client_, *accounts_);
  size_t v1 = 0, v3 = 0;
  for (const auto& c : v.captures) {
    SCOPED_TRACE(c.label);
    const int64_t at = SignedAt(c.request);
    auto caller = Authenticate(auth, c.request, at + 5);
    ASSERT_TRUE(caller.ok()) << caller.error().code << ": " << caller.error().message;
    EXPECT_EQ(caller->account_id, a.id);
    EXPECT_EQ(caller->account_name, "vectors");
    EXPECT_TRUE(caller->admin);
    EXPECT_EQ(caller->access_key_id, v.key.id);
    (c.request.headers.count("authorization") ? v3 : v1)++;

    for (Authenticator* server : {&auth, &other}) {
      auto replay = Authenticate(*server, c.request, at + 6);
      ASSERT_FALSE(replay.ok());
      EXPECT_EQ(replay.error().code, "SignatureNonceUsed");
      EXPECT_EQ(replay.error().http_status, 400);
    }
  }
  EXPECT_GE(v1, 4u);
  EXPECT_GE(v3, 4u);

  // The nonces are kept under a lease, so they expire on their own.
  auto nonces = Run(client_->Get(std::string(kNoncesPrefix), {.prefix = true}));
  ASSERT_TRUE(nonces.ok());
  EXPECT_EQ(nonces->kvs.size(), v.captures.size());
  for (const auto& kv : nonces->kvs) {
    EXPECT_NE(kv.lease, 0) << kv.key;
    EXPECT_EQ(kv.key.rfind(std::string(kNoncesPrefix) + v.key.id + "/", 0), 0u) << kv.key;
  }
}

TEST_F(AuthTest, UnknownKeyIsNotFound) {
  Vectors v = LoadVectors();
  Authenticator auth(*client_, *accounts_);
  for (const auto& c : v.captures) {
    auto r = Authenticate(auth, c.request, SignedAt(c.request));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "InvalidAccessKeyId.NotFound") << c.label;
    EXPECT_EQ(r.error().http_status, 404);
  }
}

TEST_F(AuthTest, WrongSecretIsSignatureDoesNotMatchWithTheStringToSign) {
  Vectors v = LoadVectors();
  AccountRecord a = MakeAccount("vectors");
  FixedAccessKey wrong{v.key.id, v.key.secret + "x"};
  ASSERT_TRUE(Run(accounts_->CreateAccessKey(a.name, wrong)).ok());
  Authenticator auth(*client_, *accounts_);
  for (const auto& c : v.captures) {
    SCOPED_TRACE(c.label);
    auto r = Authenticate(auth, c.request, SignedAt(c.request));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "SignatureDoesNotMatch");
    EXPECT_EQ(r.error().http_status, 400);
    const std::string prefix =
        "Specified signature is not matched with our calculation. server string to sign is:";
    ASSERT_EQ(r.error().message.substr(0, prefix.size()), prefix);
    std::string sts = r.error().message.substr(prefix.size());
    if (c.request.headers.count("authorization")) {
      EXPECT_EQ(sts.substr(0, 17), "ACS3-HMAC-SHA256\n");
    } else {
      EXPECT_EQ(sts.substr(0, c.request.method.size() + 5), c.request.method + "&%2F&");
    }
    EXPECT_EQ(r.error().message.find(v.key.secret), std::string::npos);
  }
  // A failed signature uses up no nonce.
  auto nonces = Run(client_->Get(std::string(kNoncesPrefix), {.prefix = true}));
  EXPECT_TRUE(nonces->kvs.empty());
}

TEST_F(AuthTest, DisabledKeyIsForbidden) {
  Vectors v = LoadVectors();
  AccountRecord a = MakeAccount("vectors");
  ASSERT_TRUE(Run(accounts_->CreateAccessKey(a.name, v.key)).ok());
  ASSERT_TRUE(Run(accounts_->SetAccessKeyStatus(v.key.id, AccessKeyStatus::kInactive)).ok());
  Authenticator auth(*client_, *accounts_);
  for (const auto& c : v.captures) {
    auto r = Authenticate(auth, c.request, SignedAt(c.request));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "Forbidden.AccessKeyDisabled") << c.label;
    EXPECT_EQ(r.error().http_status, 403);
  }
  // Enabled again, the same requests pass (a refused request used no nonce).
  ASSERT_TRUE(Run(accounts_->SetAccessKeyStatus(v.key.id, AccessKeyStatus::kActive)).ok());
  auth.ClearKeyCache();
  for (const auto& c : v.captures) {
    auto r = Authenticate(auth, c.request, SignedAt(c.request));
    EXPECT_TRUE(r.ok()) << c.label << ": " << r.error().message;
  }
}

TEST_F(AuthTest, ADisabledOrDeletedKeyStopsWorkingWithinTheCacheTime) {
  AccountRecord a = MakeAccount("cached");
  auto key = Run(accounts_->CreateAccessKey(a.name));
  ASSERT_TRUE(key.ok());
  FixedAccessKey pair{key->id, key->secret};
  Authenticator auth(*client_, *accounts_);
  const int64_t now = 1800000000;
  int n = 0;
  auto next = [&] { return SignedV1(pair, "nonce-" + std::to_string(n++), now); };
  ASSERT_TRUE(Authenticate(auth, next(), now).ok());

  for (bool remove : {false, true}) {
    if (remove) {
      ASSERT_TRUE(Run(accounts_->SetAccessKeyStatus(pair.id, AccessKeyStatus::kActive)).ok());
      auth.ClearKeyCache();
      ASSERT_TRUE(Authenticate(auth, next(), now).ok());
      ASSERT_TRUE(Run(accounts_->DeleteAccessKey(pair.id)).ok());
    } else {
      ASSERT_TRUE(Run(accounts_->SetAccessKeyStatus(pair.id, AccessKeyStatus::kInactive)).ok());
    }
    const auto changed = std::chrono::steady_clock::now();
    std::string code;
    while (std::chrono::steady_clock::now() - changed < 5s) {
      auto r = Authenticate(auth, next(), now);
      if (!r.ok()) {
        code = r.error().code;
        break;
      }
    }
    // The cache holds a key 2 s; one more request may be slow under ASan.
    EXPECT_LE(std::chrono::steady_clock::now() - changed, 3s);
    EXPECT_EQ(code, remove ? "InvalidAccessKeyId.NotFound" : "Forbidden.AccessKeyDisabled");
  }
}

TEST_F(AuthTest, StaleOrFutureTimestampIsIllegal) {
  Vectors v = LoadVectors();
  AccountRecord a = MakeAccount("vectors");
  ASSERT_TRUE(Run(accounts_->CreateAccessKey(a.name, v.key)).ok());
  Authenticator auth(*client_, *accounts_);
  for (const auto& c : v.captures) {
    SCOPED_TRACE(c.label);
    const int64_t at = SignedAt(c.request);
    auto late = Authenticate(auth, c.request, at + 15 * 60 + 1);
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code, "IllegalTimestamp");
    EXPECT_NE(late.error().message.find("expired"), std::string::npos) << late.error().message;
    auto early = Authenticate(auth, c.request, at - 15 * 60 - 1);
    ASSERT_FALSE(early.ok());
    EXPECT_EQ(early.error().code, "IllegalTimestamp");
    EXPECT_NE(early.error().message.find("future"), std::string::npos) << early.error().message;
    // At the edges of the window it passes.
    EXPECT_TRUE(Authenticate(auth, c.request, at + 15 * 60).ok());
  }
  // A time that is not ISO 8601 UTC.
  HttpRequest r = SignedV1(v.key, "n1", 1800000000);
  ASSERT_TRUE(r.target.find("Timestamp=2027") != std::string::npos);
  r.target.replace(r.target.find("Timestamp=2027"), 14, "Timestamp=x027");
  auto bad = Authenticate(auth, r, 1800000000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "IllegalTimestamp");
}

TEST_F(AuthTest, MissingOrUnsupportedSignatureFields) {
  FixedAccessKey key{"LTAIfields0001", "secret-fields"};
  AccountRecord a = MakeAccount("fields");
  ASSERT_TRUE(Run(accounts_->CreateAccessKey(a.name, key)).ok());
  Authenticator auth(*client_, *accounts_);
  const int64_t now = 1800000000;
  for (std::string field :
       {"AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp"}) {
    HttpRequest r = SignedV1(key, "n-" + field, now);
    size_t at = r.target.find(field + "=");
    ASSERT_NE(at, std::string::npos);
    size_t end = r.target.find('&', at);
    r.target.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
    auto res = Authenticate(auth, r, now);
    ASSERT_FALSE(res.ok()) << field;
    EXPECT_EQ(res.error().code, "MissingParameter") << field;
    EXPECT_NE(res.error().message.find(field), std::string::npos) << res.error().message;
  }
  HttpRequest sha256 = SignedV1(key, "n-method", now);
  sha256.target.replace(sha256.target.find("HMAC-SHA1"), 9, "HMAC-SHA256");
  auto res = Authenticate(auth, sha256, now);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "InvalidParameter");
  EXPECT_NE(res.error().message.find("SignatureMethod"), std::string::npos);

  // A nonce that could change the etcd key it names.
  HttpRequest slash = SignedV1(key, "a/../b", now);
  res = Authenticate(auth, slash, now);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "InvalidParameter");

  // V3 without its date header; with a header left out of SignedHeaders.
  Vectors v = LoadVectors();
  for (const auto& c : v.captures) {
    if (!c.request.headers.count("authorization")) continue;
    HttpRequest no_date = c.request;
    no_date.headers.erase("x-acs-date");
    res = Authenticate(auth, no_date, SignedAt(c.request));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, "MissingParameter");
    HttpRequest extra = c.request;
    extra.headers["x-acs-security-token"] = "t";
    res = Authenticate(auth, extra, SignedAt(c.request));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, "IncompleteSignature");
    HttpRequest body = c.request;
    body.body += "x";
    res = Authenticate(auth, body, SignedAt(c.request));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, "IncompleteSignature");
    break;
  }
}

}  // namespace
}  // namespace tg::api
