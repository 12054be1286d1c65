#include "api/auth/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <utility>

namespace tg::api {

namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

std::string Hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

// Encoded name and value pairs, sorted bytewise by encoded name (then value,
// so the order is total even for names that encode alike).
std::string CanonicalQuery(const std::map<std::string, std::string>& params, bool skip_signature) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) {
    if (skip_signature && name == "Signature") continue;
    encoded.emplace_back(PercentEncode(name), PercentEncode(value));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

ApiError Incomplete(std::string_view why) {
  return Error(400, "IncompleteSignature",
               fmt::format("The request signature does not conform to Aliyun standards: {}", why));
}

}  // namespace

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::string HmacSha1(std::string_view key, std::string_view data) {
  return Hmac(EVP_sha1(), key, data);
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  return Hmac(EVP_sha256(), key, data);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

V1Signature SignV1(std::string_view method, const std::map<std::string, std::string>& params,
                   std::string_view secret) {
  V1Signature out;
  out.string_to_sign = fmt::format("{}&{}&{}", method, PercentEncode("/"),
                                   PercentEncode(CanonicalQuery(params, /*skip_signature=*/true)));
  std::string key = fmt::format("{}&", secret);
  out.signature = Base64Encode(HmacSha1(key, out.string_to_sign));
  return out;
}

ApiResult<V3Authorization> ParseV3Authorization(std::string_view header) {
  // Bounded: the header is the caller's.
  if (header.size() > 4096) return Incomplete("the Authorization header is too long");
  if (header.substr(0, kV3Algorithm.size()) != kV3Algorithm ||
      header.size() == kV3Algorithm.size() || header[kV3Algorithm.size()] != ' ') {
    return Incomplete("the Authorization header does not start with ACS3-HMAC-SHA256");
  }
  std::string_view rest = header.substr(kV3Algorithm.size() + 1);
  V3Authorization out;
  bool have_credential = false, have_headers = false, have_signature = false;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view field = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = field.find('=');
    if (eq == std::string_view::npos)
      return Incomplete(fmt::format("Authorization field without '=': {}", field.substr(0, 64)));
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (name == "Credential") {
      if (value.empty() || value.size() > 128) return Incomplete("bad Credential");
      out.access_key_id = std::string(value);
      have_credential = true;
    } else if (name == "SignedHeaders") {
      while (!value.empty()) {
        size_t semi = value.find(';');
        std::string_view h = value.substr(0, semi);
        value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
        if (h.empty()) return Incomplete("an empty name in SignedHeaders");
        out.signed_headers.push_back(Lower(h));
      }
      if (out.signed_headers.size() > 64) return Incomplete("too many SignedHeaders");
      have_headers = true;
    } else if (name == "Signature") {
      // Checked before it is kept: a lower-cased copy of a longer value is
      // never made (GCC 12 -O2 also misjudges that copy's bounds).
      if (value.size() != 64) return Incomplete("Signature is not 64 hex digits");
      out.signature = Lower(value);
      if (!IsLowerHex(out.signature)) return Incomplete("Signature is not 64 hex digits");
      have_signature = true;
    } else {
      return Incomplete(fmt::format("unknown Authorization field {}", name.substr(0, 64)));
    }
  }
  if (!have_credential) return Incomplete("Credential is missing");
  if (!have_headers || out.signed_headers.empty()) return Incomplete("SignedHeaders is missing");
  if (!have_signature) return Incomplete("Signature is missing");
  return out;
}

V3Signature SignV3(const V3Request& request, std::string_view secret) {
  V3Signature out;
  std::string& c = out.canonical_request;
  c += request.method;
  c += '\n';
  c += request.path.empty() ? std::string_view("/") : request.path;
  c += '\n';
  c += CanonicalQuery(*request.query, /*skip_signature=*/false);
  c += '\n';
  std::string joined;
  for (const std::string& name : *request.signed_headers) {
    auto it = request.headers->find(name);
    std::string_view value = it == request.headers->end() ? std::string_view() : it->second;
    c += name;
    c += ':';
    c += Trim(value);
    c += '\n';
    if (!joined.empty()) joined += ';';
    joined += name;
  }
  c += '\n';
  c += joined;
  c += '\n';
  c += request.hashed_payload;
  out.string_to_sign = fmt::format("{}\n{}", kV3Algorithm, Sha256Hex(c));
  out.signature = HexEncode(HmacSha256(secret, out.string_to_sign));
  return out;
}

}  // namespace tg::api
