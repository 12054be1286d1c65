// The signature functions against requests the official SDKs signed
// (signature_vectors.json, captured by sdk/capture-signatures.js): each
// stored signature must be what the server computes, and any change to what
// is signed must make it differ. Also PercentEncode, the Authorization
// header's parsing, the timestamp form and the throttle.
#include "api/auth/signature.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/auth/authenticator.h"
#include "api/auth/throttle.h"
#include "api/core/request.h"

namespace tg::api {
namespace {

struct Vector {
  std::string label;
  HttpRequest request;
};

struct Vectors {
  std::string access_key_id, secret;
  std::vector<Vector> captures;
};

Vectors LoadVectors() {
  std::ifstream f(TG_API_SIGNATURE_VECTORS);
  EXPECT_TRUE(f.good()) << "cannot read " << TG_API_SIGNATURE_VECTORS;
  std::stringstream s;
  s << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(s.str());
  Vectors v{j.at("access_key_id"), j.at("access_key_secret"), {}};
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

bool IsV3(const HttpRequest& r) {
  return r.headers.count("authorization") > 0;
}

// Whether the request's own signature is what SignV1/SignV3 compute from
// `request` (possibly changed) with `secret`; `body_for_hash` stands for the
// body the server received.
bool Verifies(const HttpRequest& request, std::string_view secret) {
  auto call = ReadRpcCall(request);
  EXPECT_TRUE(call.ok()) << call.error().code << ": " << call.error().message;
  if (!call.ok()) return false;
  if (IsV3(request)) {
    auto auth = ParseV3Authorization(request.headers.at("authorization"));
    EXPECT_TRUE(auth.ok()) << auth.error().message;
    if (!auth.ok()) return false;
    std::string hashed = Sha256Hex(request.body);
    V3Request r{.method = request.method,
                .path = call->path,
                .query = &call->query,
                .headers = &request.headers,
                .signed_headers = &auth->signed_headers,
                .hashed_payload = hashed};
    return SignV3(r, secret).signature == auth->signature;
  }
  const auto& params = call->params.values();
  auto sig = params.find("Signature");
  EXPECT_NE(sig, params.end());
  if (sig == params.end()) return false;
  return SignV1(request.method, params, secret).signature == sig->second;
}

// Replaces the first occurrence of `from` in `text`.
bool ReplaceOnce(std::string& text, std::string_view from, std::string_view to) {
  size_t at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), to);
  return true;
}

TEST(SignatureVectors, EveryCapturedRequestVerifies) {
  Vectors v = LoadVectors();
  ASSERT_GE(v.captures.size(), 8u);
  size_t v1 = 0, v3 = 0;
  for (const auto& c : v.captures) {
    SCOPED_TRACE(c.label);
    EXPECT_TRUE(Verifies(c.request, v.secret));
    (IsV3(c.request) ? v3 : v1)++;
    if (IsV3(c.request)) {
      EXPECT_EQ(c.request.headers.at("x-acs-content-sha256"), Sha256Hex(c.request.body));
      auto auth = ParseV3Authorization(c.request.headers.at("authorization"));
      ASSERT_TRUE(auth.ok());
      EXPECT_EQ(auth->access_key_id, v.access_key_id);
    }
  }
  EXPECT_GE(v1, 4u);
  EXPECT_GE(v3, 4u);
}

TEST(SignatureVectors, AWrongSecretFails) {
  Vectors v = LoadVectors();
  for (const auto& c : v.captures) {
    SCOPED_TRACE(c.label);
    EXPECT_FALSE(Verifies(c.request, v.secret + "x"));
    EXPECT_FALSE(Verifies(c.request, v.secret.substr(1)));
  }
}

TEST(SignatureVectors, AnotherMethodFails) {
  Vectors v = LoadVectors();
  for (auto c : v.captures) {
    SCOPED_TRACE(c.label);
    c.request.method = c.request.method == "GET" ? "POST" : "GET";
    // A GET's form body is not read; keep the parameters where they were.
    if (c.request.method == "GET" && !c.request.body.empty() && !IsV3(c.request)) continue;
    EXPECT_FALSE(Verifies(c.request, v.secret));
  }
}

TEST(SignatureVectors, AChangedParameterValueFails) {
  Vectors v = LoadVectors();
  for (auto c : v.captures) {
    SCOPED_TRACE(c.label);
    // RegionId=cn-tiangong is in every captured call, in the query or the form.
    bool changed = ReplaceOnce(c.request.target, "RegionId=cn-tiangong", "RegionId=cn-tiangonh") ||
                   ReplaceOnce(c.request.body, "RegionId=cn-tiangong", "RegionId=cn-tiangonh");
    ASSERT_TRUE(changed);
    EXPECT_FALSE(Verifies(c.request, v.secret));
  }
}

TEST(SignatureVectors, AnAddedParameterFails) {
  Vectors v = LoadVectors();
  for (auto c : v.captures) {
    SCOPED_TRACE(c.label);
    c.request.target +=
        c.request.target.find('?') == std::string::npos ? "?DryRun=true" : "&DryRun=true";
    EXPECT_FALSE(Verifies(c.request, v.secret));
  }
}

TEST(SignatureVectors, AChangedSignedHeaderFails) {
  Vectors v = LoadVectors();
  size_t tried = 0;
  for (auto c : v.captures) {
    if (!IsV3(c.request)) continue;
    SCOPED_TRACE(c.label);
    auto auth = ParseV3Authorization(c.request.headers.at("authorization"));
    ASSERT_TRUE(auth.ok());
    for (const std::string& name : auth->signed_headers) {
      HttpRequest r = c.request;
      if (name == "x-acs-content-sha256") continue;  // tied to the body, below
      r.headers[name] += "x";
      if (name == "x-acs-version" || name == "x-acs-action") {
        // The call would not even be read; change the case instead.
        r.headers[name] = c.request.headers.at(name);
        r.headers[name][0] ^= 0x20;
      }
      if (name == "content-type") r.headers[name] = "application/x-www-form-urlencoded; x=1";
      auto call = ReadRpcCall(r);
      if (!call.ok()) continue;
      EXPECT_FALSE(Verifies(r, v.secret)) << name;
      ++tried;
    }
  }
  EXPECT_GE(tried, 20u);
}

TEST(SignatureVectors, AChangedBodyFails) {
  Vectors v = LoadVectors();
  size_t tried = 0;
  for (auto c : v.captures) {
    if (c.request.body.empty()) continue;
    SCOPED_TRACE(c.label);
    c.request.body += "&Extra=1";
    EXPECT_FALSE(Verifies(c.request, v.secret));
    ++tried;
  }
  EXPECT_GE(tried, 3u);
}

TEST(PercentEncode, KeepsUnreservedAndEncodesTheRestUppercase) {
  EXPECT_EQ(PercentEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(PercentEncode("a b"), "a%20b");
  EXPECT_EQ(PercentEncode("*'()!"), "%2A%27%28%29%21");
  EXPECT_EQ(PercentEncode("+&=/?%"), "%2B%26%3D%2F%3F%25");
  EXPECT_EQ(PercentEncode("天"), "%E5%A4%A9");
  EXPECT_EQ(PercentEncode("\xff"), "%FF");
  EXPECT_EQ(PercentEncode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(Signing, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // RFC 2202 / RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
}

TEST(SignV1, StringToSignQuotesTheSortedEncodedParameters) {
  std::map<std::string, std::string> params = {
      {"b", "x y"}, {"a", "1"}, {"Signature", "ignored"}, {"A", "*"}};
  V1Signature s = SignV1("GET", params, "secret");
  EXPECT_EQ(s.string_to_sign, "GET&%2F&A%3D%252A%26a%3D1%26b%3Dx%2520y");
  EXPECT_EQ(s.signature, Base64Encode(HmacSha1("secret&", s.string_to_sign)));
}

TEST(ParseV3Authorization, ReadsTheThreeFields) {
  std::string sig(64, 'a');
  auto a = ParseV3Authorization(
      "ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host;X-Acs-Date,"
      "Signature=" +
      sig);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->access_key_id, "LTAIx");
  EXPECT_EQ(a->signed_headers, (std::vector<std::string>{"host", "x-acs-date"}));
  EXPECT_EQ(a->signature, sig);
  auto spaced = ParseV3Authorization(
      "ACS3-HMAC-SHA256 Credential=LTAIx, SignedHeaders=host, "
      "Signature=" +
      sig);
  EXPECT_TRUE(spaced.ok());
}

TEST(ParseV3Authorization, RefusesMalformedHeaders) {
  std::string sig(64, 'a');
  for (std::string bad : {
           std::string("ACS3-HMAC-SHA256"),
           "ACS3-HMAC-SHA256 SignedHeaders=host,Signature=" + sig,
           "ACS3-HMAC-SHA256 Credential=LTAIx,Signature=" + sig,
           std::string("ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host"),
           std::string("ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host,Signature=xyz"),
           "ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host;;a,Signature=" + sig,
           "ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host,Signature=" + sig + ",Other=1",
           "ACS3-HMAC-SHA256 Credential,SignedHeaders=host,Signature=" + sig,
           "ACS3-HMAC-SHA1 Credential=LTAIx,SignedHeaders=host,Signature=" + sig,
           "ACS3-HMAC-SHA256 Credential=LTAIx,SignedHeaders=host,Signature=" + sig +
               std::string(5000, ' '),
       }) {
    auto a = ParseV3Authorization(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().code, "IncompleteSignature");
    EXPECT_EQ(a.error().http_status, 400);
  }
}

TEST(ParseIso8601Utc, ReadsUtcTimes) {
  EXPECT_EQ(ParseIso8601Utc("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIso8601Utc("2026-12-02T02:51:48Z"), 1796179908);
  EXPECT_EQ(ParseIso8601Utc("2024-02-29T12:00:00.123Z"), 1709208000);
  for (const char* bad :
       {"", "2026-12-02 02:51:48Z", "2026-12-02T02:51:48", "2026-13-02T02:51:48Z",
        "2025-02-29T00:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T02:51:48+08:00",
        "2026-12-02T02:51:48.Z", "x026-12-02T02:51:48Z"}) {
    EXPECT_EQ(ParseIso8601Utc(bad), std::nullopt) << bad;
  }
}

using namespace std::chrono_literals;

TEST(Throttle, AllowsTheBurstThenTheRate) {
  Throttle t({.rate = 10, .burst = 20});
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(t.Take("LTAIa", now).ok()) << i;
  auto refused = t.Take("LTAIa", now);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "Throttling");
  EXPECT_EQ(refused.error().http_status, 400);
  EXPECT_EQ(refused.error().message, "Request was denied due to request throttling.");
  // Another key has its own bucket.
  EXPECT_TRUE(t.Take("LTAIb", now).ok());
  // 100 ms refills one token, exactly one.
  now += 100ms;
  EXPECT_TRUE(t.Take("LTAIa", now).ok());
  EXPECT_FALSE(t.Take("LTAIa", now).ok());
  // Never more than the burst, however long it was idle.
  now += 1h;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(t.Take("LTAIa", now).ok()) << i;
  EXPECT_FALSE(t.Take("LTAIa", now).ok());
}

TEST(Throttle, ASustainedRateAtTheLimitPasses) {
  Throttle t({.rate = 100, .burst = 1});
  auto now = std::chrono::steady_clock::time_point{} + 10s;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(t.Take("LTAIa", now).ok()) << i;
    now += 10ms;
  }
  // The last token went at now - 10 ms: nothing has refilled since.
  EXPECT_FALSE(t.Take("LTAIa", now - 10ms).ok());
}

TEST(Throttle, IdleFullBucketsAreDropped) {
  Throttle t({.rate = 1, .burst = 2});
  auto now = std::chrono::steady_clock::time_point{} + 10s;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(t.Take("LTAI" + std::to_string(i), now).ok());
  EXPECT_EQ(t.buckets(), 100u);
  now += 120s;
  EXPECT_TRUE(t.Take("LTAIz", now).ok());
  EXPECT_EQ(t.buckets(), 1u);
}

TEST(Throttle, ZeroRateDisablesIt) {
  Throttle t({.rate = 0, .burst = 1});
  auto now = std::chrono::steady_clock::time_point{};
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(t.Take("LTAIa", now).ok());
}

}  // namespace
}  // namespace tg::api
