// A self-signed TLS certificate for the API's HTTPS frontend, so that
// `tiangong up` can serve HTTPS without a CA: clients trust the certificate
// file itself (curl --cacert, the SDK's CA bundle).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace tg::api {

// Writes a new EC P-256 key (mode 0600) and a certificate for it valid for
// `days` (1..36500), whose subject alternative names are `names`: each an
// IPv4/IPv6 address ("127.0.0.1") or a DNS name ("localhost",
// "*.example.com"); the first is also the subject's common name. Each file
// is written whole or not at all (a temporary file renamed into place).
// InvalidArgument for bad names or days, IoError when a file cannot be written.
Status WriteSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                                  const std::vector<std::string>& names, int days);

}  // namespace tg::api
