// The per-host role (`tiangong node`): the block data plane, serving
// volumes to guests (vhost-user-blk) and to tools (NBD), the VPC vSwitch,
// and the compute agent that runs the instances bound to this host. Options
// are typed; the flags that spell them are the CLI's.
#pragma once

#include <string>
#include <vector>

#include "base/runtime.h"
#include "compute/agent/agent.h"

namespace tg::host {

// A volume the node opens and exports.
struct VolumeSpec {
  enum class Kind { kMemory, kFile, kDistributed };
  std::string name;  // the export's name
  Kind kind = Kind::kMemory;
  std::string path;   // file: the path; distributed: the volume's name
  uint64_t size = 0;  // memory: required; file: 0 keeps the file's size
};

// Volume `volume` (a VolumeSpec's name) served to a guest on `socket`.
struct VhostBlkExport {
  std::string volume;
  std::string socket;
};

struct NodeOptions {
  std::vector<VolumeSpec> volumes;
  // For distributed volumes and the vSwitch: where the control plane is, and
  // who we are.
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string name;        // the holder named in attachments
  bool take_over = false;  // attach even if another node's attachment lives
  std::string nbd_unix;    // a Unix socket path, or empty
  std::string nbd_tcp;     // "127.0.0.1:10809", or empty
  std::vector<VhostBlkExport> vhost_blk;
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
  // The compute agent: run the instances the scheduler binds to this node
  // (`name`), their disks attached to this node's block data plane and
  // their interfaces served by its vSwitch. `compute.node` is `name`.
  bool compute = false;
  compute::AgentOptions compute_options;
};

std::string_view VolumeKindName(VolumeSpec::Kind kind);

Task<Status> RunNode(Runtime& runtime, const NodeOptions& options);

}  // namespace tg::host
