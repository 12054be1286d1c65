// The per-host role (`tiangong node`). Today: the block data plane, serving
// local volumes to guests (vhost-user-blk) and to tools (NBD). vhost-user-blk, the compute agent
// and the vSwitch join it as they land.
#pragma once

#include <string>
#include <vector>

#include "base/runtime.h"

namespace tg::cli {

struct NodeOptions {
  // "NAME=memory:SIZE" or "NAME=file:PATH[:SIZE]"; SIZE like 64M, 1G, 4096.
  std::vector<std::string> volumes;
  std::string nbd_unix;  // a Unix socket path, or empty
  std::string nbd_tcp;   // "127.0.0.1:10809", or empty
  // "NAME=SOCKET": serve volume NAME to a guest as vhost-user-blk on SOCKET.
  std::vector<std::string> vhost_blk;
  uint16_t vhost_queues = 2;
};

// Parses "64M", "1G", "4096" into bytes.
Result<uint64_t> ParseSize(std::string_view text);

Task<Status> RunNode(Runtime& runtime, const NodeOptions& options);

}  // namespace tg::cli
