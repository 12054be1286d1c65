// The per-host vSwitch (inside `tiangong node --vswitch`): registers this
// host's underlay (tunnel) address, follows the VPC records through a
// watch, keeps a TAP port for every interface bound to this host, and
// moves frames between the ports and the VXLAN tunnel as the forwarding
// view decides. A change in etcd reaches the datapath without a restart:
// the view is rebuilt from the mirror and swapped in between two frames.
// Thread-safety: one executor.
#pragma once

#include <netinet/in.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/async.h"
#include "etcd/client.h"
#include "etcd/mirror.h"
#include "network/datapath/coalesce.h"
#include "network/datapath/forwarding.h"
#include "network/datapath/metadata_tcp.h"
#include "network/gateway/gateway.h"
#include "network/vswitch/tap.h"
#include "vhost_net/net_device.h"

namespace tg::network {

struct VSwitchOptions {
  std::string host;       // interfaces with this host are served here
  std::string tunnel_ip;  // underlay address; VXLAN is received there
  uint16_t vxlan_port = kVxlanPort;
  int lease_ttl_seconds = 5;
  // Where the records last applied are kept (a restart serves from them
  // until etcd answers); empty: nowhere.
  std::string state_path;
  // The gateway role: the device on the public network (empty: none).
  std::string gateway_uplink;
  // Where vhost-user-net ports listen (<dir>/<interface id>.sock).
  std::string vhost_net_dir = "/run/tiangong/vhost-net";
  // What the metadata service (100.100.100.200:80) answers each port's
  // guest, asked by interface id; null: no metadata service. Outlives the
  // daemon.
  MetadataSource* metadata = nullptr;
};

struct VSwitchCounters {
  uint64_t from_ports = 0, to_ports = 0, tunnel_out = 0, tunnel_in = 0, replies = 0;
  uint64_t tunnel_reads = 0;  // buffers read: fewer than tunnel_in when the kernel joins (GRO)
  uint64_t forwarded = 0;     // to a migrating interface's destination (its guest left here)
  std::map<DropReason, uint64_t> drops;
  // Changes of the records not applied because a record did not decode
  // (the view before them kept serving).
  uint64_t rejected_views = 0;
};

class VSwitchDaemon {
 public:
  VSwitchDaemon(etcd::Client& client, VSwitchOptions options);
  ~VSwitchDaemon();
  // Until `stop` is set.
  Task<Status> Run(Event& stop);
  const VSwitchCounters& counters() const { return counters_; }

 private:
  struct Port;
  // The view and ports from `all`; if any record does not decode, nothing
  // changes and the error is logged (once while it stays the same).
  Status Rebuild(const std::vector<etcd::KeyValue>& all, int64_t revision);
  // The records last applied and where the ports are, durably.
  Status SaveState(const std::vector<etcd::KeyValue>& all, int64_t revision);
  bool LoadState();
  Task<void> Register(Event& stop);
  Result<std::shared_ptr<Port>> OpenTapPort(const std::string& id);
  Result<std::shared_ptr<Port>> OpenVhostPort(const std::string& id, uint16_t queues);
  Task<void> ServePort(std::shared_ptr<Port> port);
  void FromGuest(Port& port, std::span<uint8_t> frame,
                 std::span<const uint8_t, kVnetHeader> header);
  void FromLocalPort(Port& port, std::span<uint8_t> frame, const Offload& offload);
  bool ToMetadata(Port& port, std::span<const uint8_t> frame);
  Task<void> TickMetadata(Event& stop);
  void SendJoined(const std::shared_ptr<Port>& port, TcpCoalescer& coalescer);
  bool SendSegmented(const Action& a, std::span<const uint8_t> frame, uint16_t gso_size);
  Task<void> ReceiveTunnel();
  void Act(const Action& a, std::span<const uint8_t> frame, Port* from);
  void ForwardLeaving(const std::string& eni, std::span<const uint8_t> frame);
  void FlushTunnel();
  sockaddr_in TunnelAddress(uint32_t host) const;  // another host's VXLAN socket
  void FromGateway(uint32_t vni, const std::string& host, std::span<const uint8_t> frame);

  static constexpr size_t kBatch = 32;
  struct OutPacket {
    uint32_t to = 0;  // underlay address
    std::vector<uint8_t> data;
  };
  std::vector<OutPacket> outbox_;
  std::vector<uint8_t> segmented_;  // SendSegmented's datagrams, reused

  etcd::Client& client_;
  VSwitchOptions options_;
  Executor ex_;
  std::unique_ptr<etcd::Mirror> mirror_;
  HostView view_;
  ConnTrack flows_;
  std::map<std::string, std::shared_ptr<Port>> ports_;  // by eni id
  std::map<std::string, uint64_t> port_namespaces_;     // saved: where each device was
  std::set<std::string> told_forwarding_;     // leaving interfaces whose forwarding was logged
  std::vector<etcd::KeyValue> last_records_;  // what the view was built from
  int64_t saved_revision_ = 0;                // ... their revision in etcd
  int64_t applied_revision_ = 0;              // of the view serving now
  std::string last_rejection_;                // why the latest records were not applied
  std::string last_save_failure_;             // logged once while it lasts
  bool state_dirty_ = false;
  bool flush_scheduled_ = false;  // not saved since it changed
  TimePoint last_save_{};
  std::unique_ptr<asio::ip::udp::socket> tunnel_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<MetadataTcp> metadata_;  // when options_.metadata is set
  TaskGroup tasks_;
  VSwitchCounters counters_;
};

}  // namespace tg::network
