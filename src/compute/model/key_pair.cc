#include "compute/model/key_pair.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "compute/model/base64.h"
#include "compute/model/names.h"

namespace tg::compute {

namespace {

// An OpenSSH line of the largest RSA keys OpenSSH makes (16384 bits) is
// about 2.8 KB; anything far longer is no key.
constexpr size_t kMaxLineBytes = 16384;

// The length-prefixed strings (SSH's wire "string": a 32-bit big-endian
// length, then the bytes) that a public key blob is, or nullopt if the blob
// is not exactly a sequence of them.
std::optional<std::vector<std::string_view>> SplitSshStrings(std::string_view blob) {
  std::vector<std::string_view> out;
  while (!blob.empty()) {
    if (blob.size() < 4) return std::nullopt;
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len = (len << 8) | static_cast<uint8_t>(blob[i]);
    blob.remove_prefix(4);
    if (len > blob.size()) return std::nullopt;
    out.push_back(blob.substr(0, len));
    blob.remove_prefix(len);
  }
  return out;
}

// Alibaba's (and `ssh-keygen -l -E md5`'s) form: MD5 of the blob, lowercase
// hex bytes joined by ':'.
std::string Md5Fingerprint(std::string_view blob) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(blob.data(), blob.size(), md.data(), &len, EVP_md5(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i > 0) out.push_back(':');
    out += fmt::format("{:02x}", md[i]);
  }
  return out;
}

// The blob's fields after the type: ed25519 is one 32-byte key, ECDSA a
// curve named as in the type and a point, RSA an exponent and a modulus.
Status CheckKeyFields(std::string_view type, const std::vector<std::string_view>& fields) {
  if (type == "ssh-ed25519") {
    if (fields.size() != 2 || fields[1].size() != 32)
      return InvalidArgument("public key: an ssh-ed25519 key is one 32-byte key");
  } else if (type.starts_with("ecdsa-sha2-")) {
    if (fields.size() != 3 || fields[1] != type.substr(std::string_view("ecdsa-sha2-").size()) ||
        fields[2].empty()) {
      return InvalidArgument("public key: an {} key is its curve and a point", type);
    }
  } else if (fields.size() != 3 || fields[1].empty() || fields[2].empty()) {
    return InvalidArgument("public key: an ssh-rsa key is an exponent and a modulus");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateKeyPairName(std::string_view name) {
  return ValidateName("key pair name", name, /*chinese=*/false);
}

Result<std::string> CheckPublicKey(std::string_view line) {
  // One line, as `ssh-keygen` writes it and authorized_keys takes it.
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.size() > kMaxLineBytes)
    return InvalidArgument("public key is longer than {} bytes", kMaxLineBytes);
  TG_RETURN_IF_ERROR(ValidateText("public key", line));
  const size_t type_end = line.find(' ');
  if (type_end == std::string_view::npos)
    return InvalidArgument("public key is not '<type> <base64 key> [comment]'");
  const std::string_view type = line.substr(0, type_end);
  if (type != "ssh-rsa" && type != "ssh-ed25519" &&
      !(type.starts_with("ecdsa-sha2-") && type.size() > std::string_view("ecdsa-sha2-").size())) {
    return InvalidArgument("public key type '{}' is not ssh-rsa, ssh-ed25519 or ecdsa-sha2-*",
                           type);
  }
  std::string_view encoded = line.substr(type_end + 1);
  encoded = encoded.substr(0, encoded.find(' '));
  // Strict base64: a blob that decoded loosely could name two different keys
  // by one fingerprint.
  const std::optional<std::string> blob = DecodeBase64(encoded);
  if (!blob || blob->empty()) return InvalidArgument("public key: the key is not base64");
  const std::optional<std::vector<std::string_view>> fields = SplitSshStrings(*blob);
  if (!fields || fields->empty()) return InvalidArgument("public key: the key blob is malformed");
  if ((*fields)[0] != type)
    return InvalidArgument("public key: the line says {}, but the key blob is another type", type);
  TG_RETURN_IF_ERROR(CheckKeyFields(type, *fields));
  return Md5Fingerprint(*blob);
}

}  // namespace tg::compute
