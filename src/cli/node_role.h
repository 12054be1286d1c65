// The per-host role (`tiangong node`): the block data plane, serving
// volumes to guests (vhost-user-blk) and to tools (NBD), and the VPC vSwitch.
// The compute agent joins it as it lands.
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
  // The VPC vSwitch: serve the interfaces bound to this node (`name`), with
  // VXLAN on this underlay address.
  bool vswitch = false;
  std::string tunnel_ip;
  // Where the vSwitch keeps the records it last applied (so that a restart
  // serves at once, etcd reachable or not); default:
  // /var/lib/tiangong/vswitch-<name>.json.
  std::string vswitch_state;
  // The gateway role: the vSwitch's device on the public network.
  std::string gateway_uplink;
  // Where vhost-user-net ports listen.
  std::string vhost_net_dir = "/run/tiangong/vhost-net";
};

Task<Status> RunNode(Runtime& runtime, const NodeOptions& options);

}  // namespace tg::cli
