// The per-host role (`tiangong node`). Today: the block data plane, serving
// local volumes to guests (vhost-user-blk) and to tools (NBD). vhost-user-blk, the compute agent
// and the vSwitch join it as they land.
#pragma once

#include <string>
#include <vector>

#include "base/runtime.h"

namespace tg::cli {

struct NodeOptions {
  // "NAME=memory:SIZE", "NAME=file:PATH[:SIZE]" (SIZE like 64M, 1G, 4096), or
  // "NAME=ebs[:VOLUME]": a distributed volume (default VOLUME: NAME).
  std::vector<std::string> volumes;
  // For distributed volumes: where the control plane is, and who we are.
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string name;        // the holder named in attachments (default: hostname)
  bool take_over = false;  // attach even if another node's attachment lives
  std::string nbd_unix;    // a Unix socket path, or empty
  std::string nbd_tcp;     // "127.0.0.1:10809", or empty
  // "NAME=SOCKET": serve volume NAME to a guest as vhost-user-blk on SOCKET.
  std::vector<std::string> vhost_blk;
  uint16_t vhost_queues = 2;
};

Task<Status> RunNode(Runtime& runtime, const NodeOptions& options);

}  // namespace tg::cli
