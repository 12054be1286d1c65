// The all-in-one cloud (`tiangong up`): a managed etcd, the server, and
// chunkservers on this machine, each its own "host" so three replicas have
// three failure domains. The local etcd dying is fatal and said so.
#pragma once

#include <string>

#include "base/runtime.h"
#include "server/server.h"

namespace tg::up {

struct UpOptions {
  std::string state_dir = "/var/lib/tiangong";  // etcd data, chunk data, logs
  uint16_t etcd_client_port = 2379;             // on loopback
  uint16_t etcd_peer_port = 2380;
  std::string etcd_binary = "etcd";
  int chunkservers = 3;  // 0: bring your own
};

// Runs until shutdown is requested; `server.etcd_endpoints` is replaced by
// the managed etcd's.
Task<Status> RunUp(Runtime& runtime, UpOptions up, server::ServerOptions server);

}  // namespace tg::up
