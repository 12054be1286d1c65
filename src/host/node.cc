#include "host/node.h"

#include <map>

#include "base/config.h"
#include "base/log.h"
#include "compute/agent/metadata/metadata_responder.h"
#include "compute/store/compute_store.h"
#include "etcd/client.h"
#include "host/block_plane.h"
#include "host/nic_plane.h"
#include "nbd/server.h"
#include "network/controller/vpc_store.h"
#include "network/vswitch/vswitch.h"
#include "storage/client/distributed_volume.h"
#include "vhost_blk/blk_device.h"
#include "volume/volume.h"

namespace tg::host {

namespace {

auto Log() {
  static auto log = log::Get("node");
  return log;
}

// Keeps the metadata service's answers current with the records.
class MetadataFeed final : public compute::InstanceObserver {
 public:
  MetadataFeed(compute::MetadataResponder& responder, std::string host, std::string region)
      : responder_(responder), host_(std::move(host)), region_(std::move(region)) {}
  void Observe(const compute::ComputeState& compute,
               const network::NetworkState& network) override {
    responder_.Update(compute::BuildMetadataSnapshot(compute, network, host_, region_));
  }

 private:
  compute::MetadataResponder& responder_;
  std::string host_;
  std::string region_;
};

}  // namespace

std::string_view VolumeKindName(VolumeSpec::Kind kind) {
  switch (kind) {
    case VolumeSpec::Kind::kMemory:
      return "memory";
    case VolumeSpec::Kind::kFile:
      return "file";
    case VolumeSpec::Kind::kDistributed:
      return "ebs";
  }
  return "unknown";
}

Task<Status> RunNode(Runtime& rt, const NodeOptions& options) {
  const bool block =
      !options.nbd_unix.empty() || !options.nbd_tcp.empty() || !options.vhost_blk.empty();
  if (!block && !options.vswitch && !options.compute) {
    co_return InvalidArgument(
        "nothing to serve: give --vhost-blk, --nbd-unix, --nbd-tcp, --vswitch and/or --compute");
  }
  if (options.compute && !options.vswitch)
    co_return InvalidArgument("--compute needs --vswitch (instances' interfaces are its ports)");
  if (!options.gateway_uplink.empty() && !options.vswitch)
    co_return InvalidArgument("--gateway-uplink needs --vswitch (the gateway is part of it)");
  if (options.vswitch && options.tunnel_ip.empty()) {
    co_return InvalidArgument("--vswitch needs --tunnel-ip (this host's underlay address)");
  }
  if (options.vhost_queues == 0 || options.vhost_queues > 16) {
    co_return InvalidArgument("--vhost-queues must be 1 to 16, not {}", options.vhost_queues);
  }
  const std::vector<VolumeSpec>& specs = options.volumes;
  std::unique_ptr<etcd::Client> etcd;  // for distributed (ebs) volumes
  for (const auto& spec : specs) {
    if ((spec.kind != VolumeSpec::Kind::kDistributed && !options.vswitch && !options.compute) ||
        etcd)
      continue;
    TG_CO_ASSIGN_OR_RETURN(
        etcd, etcd::Client::Create(rt.executor(), {.endpoints = options.etcd_endpoints}));
    TG_CO_RETURN_IF_ERROR(co_await etcd->CheckReachable());
  }
  std::map<std::string, std::unique_ptr<volume::Volume>> volumes;
  nbd::Server server(rt.executor());
  Status status;
  for (const auto& spec : specs) {
    Result<std::unique_ptr<volume::Volume>> v = Internal("unreachable");
    if (spec.kind == VolumeSpec::Kind::kMemory) {
      v = volume::MakeMemoryVolume(spec.size);
    } else if (spec.kind == VolumeSpec::Kind::kDistributed) {
      storage::DistributedVolumeOptions dv{.volume = spec.path,
                                           .holder = options.name,
                                           .lease_ttl_seconds = 5,
                                           .take_over = options.take_over,
                                           .replica_wait_seconds = 30};
      v = co_await storage::OpenDistributedVolume(*etcd, dv);
    } else {
      volume::FileVolumeOptions fo{.path = spec.path, .size = spec.size};
      v = co_await volume::OpenFileVolume(rt.executor(), fo);
    }
    if (!v.ok()) {
      status = v.status().Annotate("volume " + spec.name);
      break;
    }
    status = server.AddExport({.name = spec.name, .volume = v->get()});
    if (!status.ok()) break;
    Log()->info("volume ready name={} kind={} size={}", spec.name, VolumeKindName(spec.kind),
                (*v)->size());
    volumes[spec.name] = std::move(*v);
  }
  if (status.ok() && !options.nbd_unix.empty()) status = server.ListenUnix(options.nbd_unix);
  if (status.ok() && !options.nbd_tcp.empty()) {
    auto hp = ParseHostPort(options.nbd_tcp);
    status = hp.ok() ? server.ListenTcp(hp->first, hp->second) : hp.status();
  }
  // vhost-user-blk: one device and one socket per NAME=SOCKET.
  std::vector<std::unique_ptr<vhost_blk::BlkDevice>> devices;
  std::vector<std::unique_ptr<vhost::Server>> vhost_servers;
  for (const auto& blk : options.vhost_blk) {
    if (!status.ok()) break;
    auto volume = volumes.find(blk.volume);
    if (volume == volumes.end()) {
      status = InvalidArgument("vhost-user-blk export of {}: no such volume", blk.volume);
      break;
    }
    devices.push_back(
        std::make_unique<vhost_blk::BlkDevice>(*volume->second, options.vhost_queues, blk.volume));
    vhost_servers.push_back(
        std::make_unique<vhost::Server>(rt.executor(), *devices.back(), blk.socket));
    status = vhost_servers.back()->Listen();
  }
  if (status.ok() && options.compute && !etcd) {
    // The agent must read the records before it acts: etcd must answer.
    auto made = etcd::Client::Create(rt.executor(), {.endpoints = options.etcd_endpoints});
    status = made.status();
    if (made.ok()) etcd = std::move(*made);
    if (status.ok()) status = co_await etcd->CheckReachable();
  }
  if (status.ok() && options.vswitch && !etcd) {  // no ebs volume made the client
    // Not required to be reachable: the vSwitch serves from its saved state
    // until etcd answers.
    auto made = etcd::Client::Create(rt.executor(), {.endpoints = options.etcd_endpoints});
    status = made.status();
    if (made.ok()) etcd = std::move(*made);
  }
  compute::MetadataResponder metadata;  // outlives the vSwitch that asks it
  std::unique_ptr<network::VSwitchDaemon> vswitch;
  Status vswitch_status, compute_status;
  std::unique_ptr<BlockPlane> block_plane;
  std::unique_ptr<network::VpcStore> vpcs;
  std::unique_ptr<NicPlane> nic_plane;
  std::unique_ptr<storage::VolumeStore> volume_store;
  std::unique_ptr<compute::ComputeStore> compute_store;
  std::unique_ptr<compute::ComputeAgent> agent;
  std::unique_ptr<MetadataFeed> metadata_feed;
  if (status.ok() && options.compute) {
    block_plane = std::make_unique<BlockPlane>(rt.executor(), *etcd, options.name);
    vpcs = std::make_unique<network::VpcStore>(*etcd);
    nic_plane = std::make_unique<NicPlane>(*vpcs, options.name, options.vhost_net_dir);
    volume_store = std::make_unique<storage::VolumeStore>(*etcd);
    compute_store = std::make_unique<compute::ComputeStore>(*etcd, *volume_store, *vpcs);
    compute::AgentOptions agent_options = options.compute_options;
    agent_options.node = options.name;
    // Incoming migrations come over the underlay, like the guests' frames.
    if (!options.tunnel_ip.empty()) agent_options.migration_address = options.tunnel_ip;
    metadata_feed = std::make_unique<MetadataFeed>(metadata, options.name, agent_options.region);
    agent = std::make_unique<compute::ComputeAgent>(*etcd, *compute_store, *vpcs, *block_plane,
                                                    *nic_plane, agent_options, metadata_feed.get());
  }
  if (status.ok()) {
    TaskGroup serving(rt.executor());
    TaskGroup switching(rt.executor());  // stops on shutdown by itself: never cancelled
    if (options.vswitch) {
      vswitch = std::make_unique<network::VSwitchDaemon>(
          *etcd,
          network::VSwitchOptions{
              .host = options.name,
              .tunnel_ip = options.tunnel_ip,
              .state_path = options.vswitch_state.empty()
                                ? fmt::format("/var/lib/tiangong/vswitch-{}.json", options.name)
                                : options.vswitch_state,
              .gateway_uplink = options.gateway_uplink,
              .vhost_net_dir = options.vhost_net_dir,
              .metadata = options.compute ? &metadata : nullptr});
      switching.Spawn("vswitch",
                      [](network::VSwitchDaemon& v, Event& stop, Status& out) -> Task<void> {
                        out = co_await v.Run(stop);
                        if (!out.ok()) Log()->error("vSwitch: {}", out);
                      }(*vswitch, rt.shutdown(), vswitch_status));
    }
    TaskGroup computing(rt.executor());  // stops on shutdown by itself
    if (agent) {
      computing.Spawn("compute agent",
                      [](compute::ComputeAgent& a, Event& stop, Status& out) -> Task<void> {
                        out = co_await a.Run(stop);
                        if (!out.ok()) Log()->error("compute agent: {}", out);
                      }(*agent, rt.shutdown(), compute_status));
    }
    for (auto& v : vhost_servers) serving.Spawn("vhost-user-blk", v->Run());
    if (!options.nbd_unix.empty() || !options.nbd_tcp.empty()) serving.Spawn("nbd", server.Run());
    Log()->info("serving vhost_blk={} nbd_unix={} nbd_tcp_port={} volumes={}", vhost_servers.size(),
                options.nbd_unix, server.tcp_port(), volumes.size());
    co_await rt.shutdown().Wait();
    for (auto& v : vhost_servers) co_await v->Stop();
    co_await server.Stop();
    serving.CancelAll();
    co_await serving.Close();
    co_await computing.Close();
    if (block_plane) co_await block_plane->DetachAll();
    co_await switching.Close();
    if (status.ok()) status = vswitch_status;
    if (status.ok()) status = compute_status;
  }
  for (auto& [name, v] : volumes) {
    Status flushed = co_await v->Flush();
    if (!flushed.ok()) Log()->warn("flush of {} failed: {}", name, flushed);
    co_await v->Close();
  }
  Log()->info("node stopped");
  co_return status;
}

}  // namespace tg::host
