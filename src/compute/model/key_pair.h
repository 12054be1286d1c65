// Key pairs: public SSH keys an instance gets through the metadata service.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace tg::compute {

struct KeyPair {
  std::string name;         // 2-128 characters, starts with a letter; unique
  std::string public_key;   // one OpenSSH line: "ssh-ed25519 AAAA... comment"
  std::string fingerprint;  // MD5 of the key blob, colon-separated hex (Alibaba's form)
  int64_t created_at = 0;
};

Status ValidateKeyPairName(std::string_view name);
// The key type is ssh-rsa, ssh-ed25519 or ecdsa-sha2-*, the blob is base64
// that decodes to a blob naming that same type. Returns the fingerprint.
Result<std::string> CheckPublicKey(std::string_view line);

}  // namespace tg::compute
