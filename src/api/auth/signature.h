// The two request signatures Alibaba Cloud's SDKs send, computed the way the
// server checks them (docs/api.md, "Signatures"). Pure functions: no clock,
// no store. Each returns the string it signed as well, because a mismatch is
// answered with the server's string to sign (clients print it to debug).
//
// V1 (pop-core, and the new SDKs with signatureAlgorithm 'v2'): every
//   parameter, query and form body, minus Signature, percent-encoded, sorted
//   by encoded name, joined k=v&...; StringToSign = METHOD&%2F&pct(that);
//   Signature = base64(HMAC-SHA1(secret + "&", StringToSign)).
// V3 (ACS3-HMAC-SHA256, the new SDKs' default): a canonical request of the
//   method, the path, the sorted encoded query (the body is not in it but
//   hashed), the signed headers and the body's hash; StringToSign =
//   "ACS3-HMAC-SHA256\n" + hex(sha256(canonical request)); Signature =
//   hex(HMAC-SHA256(secret, StringToSign)).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/core/error.h"

namespace tg::api {

inline constexpr std::string_view kV3Algorithm = "ACS3-HMAC-SHA256";
inline constexpr std::string_view kV1Method = "HMAC-SHA1";
inline constexpr std::string_view kV1Version = "1.0";

// RFC 3986: A-Za-z0-9 - _ . ~ kept, every other byte %XX (uppercase hex),
// so a space is %20 and '*' is %2A.
std::string PercentEncode(std::string_view text);

std::string HexEncode(std::string_view bytes);  // lowercase
std::string Base64Encode(std::string_view bytes);
std::string Sha256Hex(std::string_view data);
std::string HmacSha1(std::string_view key, std::string_view data);    // raw bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // raw bytes
// Compares in time independent of where the two differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

struct V1Signature {
  std::string string_to_sign;
  std::string signature;  // base64
};
// `params`: every parameter of the call, decoded; "Signature" is skipped.
V1Signature SignV1(std::string_view method, const std::map<std::string, std::string>& params,
                   std::string_view secret);

// The Authorization header of a V3 request.
struct V3Authorization {
  std::string access_key_id;
  std::vector<std::string> signed_headers;  // lower-case, as listed
  std::string signature;                    // lowercase hex
};
// `ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=a;b,Signature=<hex>`
// (fields in any order, spaces after commas allowed). IncompleteSignature
// (400) naming what is missing or malformed.
ApiResult<V3Authorization> ParseV3Authorization(std::string_view header);

struct V3Request {
  std::string_view method;
  std::string_view path;                              // "/"
  const std::map<std::string, std::string>* query;    // decoded, query string only
  const std::map<std::string, std::string>* headers;  // names lower-cased
  const std::vector<std::string>* signed_headers;     // lower-case names
  std::string_view hashed_payload;                    // hex sha256 of the body
};
struct V3Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  // lowercase hex
};
// A signed header the request does not carry signs as an empty value (so
// the signature simply fails to match).
V3Signature SignV3(const V3Request& request, std::string_view secret);

}  // namespace tg::api
