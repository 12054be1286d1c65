// GetInstanceConsoleOutput's exchange through etcd: the console log of an
// instance is kept by the agent of its host, which may not be the API
// server's. The API puts a request (a nonce) under a short lease; the
// host's agent answers with the log's tail under the same nonce, also under
// a short lease. A prefix of its own, outside /tiangong/compute/, so no
// reader of the compute records ever sees these keys.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tg::compute {

inline constexpr std::string_view kConsoleRequestsPrefix = "/tiangong/console/requests/";
inline constexpr std::string_view kConsoleOutputPrefix = "/tiangong/console/output/";
// The tail of the log an answer carries (before base64).
inline constexpr size_t kConsoleOutputBytes = 64 << 10;

// Request value: {"nonce": "..."}.
inline std::string ConsoleRequestKey(std::string_view instance) {
  return std::string(kConsoleRequestsPrefix) + std::string(instance);
}
// Answer value: {"nonce": "...", "output": "<base64>", "time": <unix seconds>}.
inline std::string ConsoleOutputKey(std::string_view instance) {
  return std::string(kConsoleOutputPrefix) + std::string(instance);
}

}  // namespace tg::compute
