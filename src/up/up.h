// The all-in-one cloud (`tiangong up`): a managed etcd, the server,
// chunkservers on this machine (each its own "host", so three replicas have
// three failure domains), and one node with the vSwitch and the compute
// agent, so that instances run here; a default image is imported once. The
// local etcd dying is fatal and said so.
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
  int chunkservers = 3;        // 0: bring your own
  bool node = true;            // the vSwitch and compute node "local"
  std::string gateway_uplink;  // the node also serves gateways on this device
  // A disk image imported as `default_image_name` unless an image of that
  // name exists (scripts/up builds the small test image for it).
  std::string default_image;
  std::string default_image_name = "busybox";
};

// Runs until shutdown is requested; `server.etcd_endpoints` is replaced by
// the managed etcd's.
Task<Status> RunUp(Runtime& runtime, UpOptions up, server::ServerOptions server);

}  // namespace tg::up
