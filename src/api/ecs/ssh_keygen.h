// CreateKeyPair's key: a new RSA 2048 key pair, the public half as one
// OpenSSH authorized_keys line, the private half as the PKCS#1 PEM
// ("-----BEGIN RSA PRIVATE KEY-----") Alibaba hands out once.
#pragma once

#include <string>

#include "base/status.h"

namespace tg::api {

struct SshKeyPair {
  std::string public_key;  // "ssh-rsa AAAA..."
  std::string private_pem;
};

Result<SshKeyPair> GenerateRsaKeyPair();

}  // namespace tg::api
