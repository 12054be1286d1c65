// tiangong: one binary, its roles as subcommands.
//   tiangong up           the all-in-one cloud on this machine (managed etcd,
//                         server, 3 chunkservers)
//   tiangong server       the control plane, against an existing etcd cluster
//   tiangong chunkserver  one chunkserver (a data directory and a data port)
//   tiangong node         the per-host data plane (vhost-user-blk and NBD exports)
//   tiangong volume ...   create, list, show and delete distributed volumes
//   tiangong storage status   chunkservers, chunk health, recovery progress
//   tiangong status       what the control plane looks like now
//   tiangong image|type|keypair|instance|deployment-set|host ...   compute
//   tiangong api ecs|vpc Action --Param v ...   the HTTP API, aliyun CLI style
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/config.h"
#include "base/log.h"
#include "base/runtime.h"
#include "cli/account_commands.h"
#include "cli/api_commands.h"
#include "cli/api_flags.h"
#include "cli/compute_commands.h"
#include "cli/network_commands.h"
#include "cli/node_flags.h"
#include "cli/storage_commands.h"
#include "etcd/client.h"
#include "host/node.h"
#include "server/server.h"
#include "server/status.h"
#include "storage/chunkserver/agent.h"
#include "up/up.h"

namespace tg::cli {
namespace {

std::string DefaultHostName() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

Result<std::unique_ptr<etcd::Client>> Connect(Runtime& rt, const std::vector<std::string>& urls) {
  return etcd::Client::Create(rt.executor(), etcd::ClientOptions{.endpoints = urls});
}

Task<Status> RunStatus(Runtime& rt, std::vector<std::string> urls) {
  TG_CO_ASSIGN_OR_RETURN(auto client, Connect(rt, urls));
  TG_CO_ASSIGN_OR_RETURN(server::ControlPlaneStatus status,
                         co_await server::ReadControlPlaneStatus(*client));
  nlohmann::json out = {
      {"etcd", status.etcd_endpoint},
      {"servers", nlohmann::json::array()},
      {"controller_leader", status.leader ? nlohmann::json(*status.leader) : nlohmann::json()}};
  for (const auto& registration : status.servers) {
    out["servers"].push_back(nlohmann::json::parse(registration, nullptr, false));
  }
  std::cout << out.dump(2) << std::endl;
  co_return Status::Ok();
}

int Main(int argc, char** argv) {
  CLI::App app{"Tiangong: an IaaS cloud in one binary"};
  app.require_subcommand(1);
  CommonFlags common;
  AddCommonFlags(app, common);

  up::UpOptions up;
  server::ServerOptions server;
  std::string etcd_list = "http://127.0.0.1:2379";

  auto* up_cmd = app.add_subcommand("up", "Run the all-in-one cloud on this machine until Ctrl-C");
  up_cmd->add_option("--state-dir", up.state_dir, "Directory for all local state (etcd data, logs)")
      ->capture_default_str();
  up_cmd
      ->add_option("--etcd-client-port", up.etcd_client_port,
                   "Loopback port of the managed etcd's client API")
      ->capture_default_str();
  up_cmd->add_option("--etcd-peer-port", up.etcd_peer_port, "Loopback port of its peer API")
      ->capture_default_str();
  up_cmd->add_option("--etcd-binary", up.etcd_binary, "The etcd program to run")
      ->capture_default_str();
  up_cmd
      ->add_option("--chunkservers", up.chunkservers,
                   "Chunkservers to run beside the server (0: bring your own)")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));

  bool up_no_node = false;
  up_cmd->add_flag("--no-node", up_no_node,
                   "Run no vSwitch and compute node here (bring your own nodes)");
  up_cmd->add_option("--gateway-uplink", up.gateway_uplink,
                     "The node also serves NAT gateways, EIPs and VPN gateways on this device");
  up_cmd->add_option("--default-image", up.default_image,
                     "A disk image (qcow2 or raw) to import at start unless already there");
  up_cmd->add_option("--default-image-name", up.default_image_name, "Its name")
      ->capture_default_str();
  auto* server_cmd =
      app.add_subcommand("server", "Run the control plane against an existing etcd cluster");
  for (auto* cmd : {up_cmd, server_cmd}) {
    cmd->add_option("--name", server.name, "Name of this server (default: hostname-pid)");
    cmd->add_option("--lease-ttl", server.lease_ttl_seconds,
                    "Seconds a dead server keeps its registration and leadership")
        ->capture_default_str()
        ->check(CLI::Range(2, 600));
    cmd->add_option("--cpu-overcommit", server.placement.cpu_overcommit,
                    "vCPUs the scheduler may bind per node vCPU")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 64.0));
    cmd->add_option("--memory-overcommit", server.placement.memory_overcommit,
                    "Instance memory the scheduler may bind per MiB of a node's")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 64.0));
    AddApiServeFlags(cmd, server.api);
  }
  server_cmd->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")
      ->capture_default_str();

  host::NodeOptions node;
  std::vector<std::string> node_volumes, node_vhost_blk;
  auto* node_cmd =
      app.add_subcommand("node", "Run the per-host data plane: serve volumes to guests and tools");
  node_cmd->add_option("--volume", node_volumes,
                       "A volume to serve: NAME=memory:SIZE, NAME=file:PATH[:SIZE] or "
                       "NAME=ebs[:VOLUME] (repeatable)");
  node_cmd->add_option("--nbd-unix", node.nbd_unix, "Serve NBD on this Unix socket");
  node_cmd->add_option("--nbd-tcp", node.nbd_tcp,
                       "Serve NBD on this HOST:PORT (e.g. 127.0.0.1:10809)");
  node_cmd->add_option("--vhost-blk", node_vhost_blk,
                       "Serve volume NAME to a guest as vhost-user-blk: NAME=SOCKET (repeatable)");
  node_cmd->add_option("--vhost-queues", node.vhost_queues, "Queues per vhost-user-blk device")
      ->capture_default_str();
  node_cmd->add_option("--etcd", etcd_list, "etcd client URLs (for ebs volumes), comma-separated")
      ->capture_default_str();
  node_cmd->add_option("--name", node.name, "This node's name in attachments (default: hostname)");
  node_cmd->add_flag("--take-over", node.take_over,
                     "Attach ebs volumes even if another node's attachment still lives");
  node_cmd->add_flag("--vswitch", node.vswitch,
                     "Run the VPC vSwitch for the interfaces bound to this node (--name)");
  node_cmd->add_option("--tunnel-ip", node.tunnel_ip,
                       "This host's underlay address: VXLAN to and from other hosts");
  node_cmd->add_option("--vswitch-state", node.vswitch_state,
                       "Where the vSwitch keeps the records it applied (default "
                       "/var/lib/tiangong/vswitch-NAME.json)");
  node_cmd->add_option("--gateway-uplink", node.gateway_uplink,
                       "The gateway role: serve NAT gateways, EIPs and VPN gateways on this "
                       "device, on the public network (with --vswitch)");
  node_cmd
      ->add_option("--vhost-net-dir", node.vhost_net_dir,
                   "Where vhost-user-net ports listen: DIR/<interface id>.sock (with --vswitch)")
      ->capture_default_str();
  std::string node_accel = "auto";
  uint64_t node_memory_mib = 0;
  int node_stop_grace = 30;
  node_cmd->add_flag("--compute", node.compute,
                     "Run the compute agent: the instances the scheduler binds to this node "
                     "(with --vswitch)");
  node_cmd->add_option("--zone", node.compute_options.zone, "This node's zone (with --compute)")
      ->capture_default_str();
  node_cmd->add_option("--pod", node.compute_options.pod, "This node's POD label");
  node_cmd->add_option("--rack", node.compute_options.rack, "This node's rack label");
  node_cmd->add_option("--physical-host", node.compute_options.physical_host,
                       "The machine this node runs on, for anti-affinity (default: --name)");
  node_cmd->add_option("--compute-vcpus", node.compute_options.capacity.vcpus,
                       "vCPUs instances may have here (default: this machine's)");
  node_cmd->add_option("--compute-memory-mib", node_memory_mib,
                       "MiB of memory instances may have here (default: this machine's)");
  node_cmd
      ->add_option("--instance-dir", node.compute_options.run_dir,
                   "Where each instance's QMP and console sockets and console log live")
      ->capture_default_str();
  node_cmd->add_option("--qemu", node.compute_options.qemu_binary, "The QEMU program to run")
      ->capture_default_str();
  node_cmd
      ->add_option("--accel", node_accel,
                   "auto (KVM if it runs a guest here, else TCG), kvm or tcg")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  node_cmd
      ->add_option("--stop-timeout", node_stop_grace,
                   "Seconds a guest has to power off after the ACPI button before a hard stop")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));

  storage::ChunkserverOptions chunkserver;
  double recovery_mib_per_second = 256;
  auto* chunkserver_cmd = app.add_subcommand(
      "chunkserver", "Run a chunkserver: store chunk replicas in a directory, serve them on TCP");
  chunkserver_cmd->add_option("--data", chunkserver.data_dir, "Data directory")->required();
  chunkserver_cmd
      ->add_option("--listen", chunkserver.listen, "Data port, HOST:PORT (port 0: any free)")
      ->capture_default_str();
  chunkserver_cmd->add_option("--advertise", chunkserver.advertise,
                              "Address clients use (default: the bound one)");
  chunkserver_cmd->add_option("--host", chunkserver.host,
                              "Failure domain: the host (default: the server id)");
  chunkserver_cmd->add_option("--rack", chunkserver.rack, "Failure domain: the rack")
      ->capture_default_str();
  chunkserver_cmd
      ->add_option("--lease-ttl", chunkserver.lease_ttl_seconds,
                   "Seconds a dead chunkserver keeps its registration")
      ->capture_default_str()
      ->check(CLI::Range(2, 600));
  chunkserver_cmd
      ->add_option("--scrub-interval", chunkserver.scrub_interval_seconds,
                   "Seconds between scrub passes")
      ->capture_default_str();
  chunkserver_cmd
      ->add_option("--recovery-rate", recovery_mib_per_second,
                   "Recovery copy limit into this server, MiB/s")
      ->capture_default_str();
  chunkserver_cmd->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")
      ->capture_default_str();

  auto* volume_cmd = app.add_subcommand("volume", "Distributed volumes");
  volume_cmd->require_subcommand(1);
  std::string volume_name, volume_size;
  bool force = false, no_wait = false;
  auto* vcreate = volume_cmd->add_subcommand("create", "Create a volume");
  vcreate->add_option("name", volume_name, "Volume name")->required();
  vcreate->add_option("--size", volume_size, "Size, e.g. 10G")->required();
  auto* vlist = volume_cmd->add_subcommand("list", "List volumes with their chunk health");
  auto* vshow = volume_cmd->add_subcommand("show", "A volume and where its chunks are");
  vshow->add_option("name", volume_name, "Volume name")->required();
  std::string target_name;
  auto* vsnapshot = volume_cmd->add_subcommand(
      "snapshot", "Take a crash-consistent snapshot of a volume (also while it is in use)");
  vsnapshot->add_option("name", volume_name, "Volume name")->required();
  vsnapshot->add_option("snapshot", target_name, "Snapshot name")->required();
  auto* vclone = volume_cmd->add_subcommand("clone", "A new volume from a snapshot (instant)");
  vclone->add_option("snapshot", volume_name, "Snapshot name")->required();
  vclone->add_option("name", target_name, "New volume name")->required();
  auto* vresize = volume_cmd->add_subcommand("resize", "Grow a volume");
  vresize->add_option("name", volume_name, "Volume name")->required();
  vresize->add_option("--size", volume_size, "New size, e.g. 20G")->required();
  auto* vdelete = volume_cmd->add_subcommand(
      "delete", "Delete a volume or snapshot (its data goes when nothing else uses it)");
  vdelete->add_option("name", volume_name, "Volume name")->required();
  vdelete->add_flag("--force", force, "Delete even if attached");
  for (auto* c : {vcreate, vdelete, vclone}) c->add_flag("--no-wait", no_wait, "Return at once");
  for (auto* c : {vcreate, vlist, vshow, vdelete, vsnapshot, vclone, vresize}) {
    c->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")->capture_default_str();
  }
  auto* storage_cmd = app.add_subcommand("storage", "The storage cluster");
  storage_cmd->require_subcommand(1);
  auto* sstatus = storage_cmd->add_subcommand(
      "status", "Chunkservers, chunk health (healthy/recovering/degraded), recovery progress");
  sstatus->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")
      ->capture_default_str();

  NetworkCommands network(app, etcd_list);
  ComputeCommands compute(app, etcd_list);
  AccountCommands accounts(app, etcd_list);
  ApiCommands api_client(app);

  auto* status_cmd = app.add_subcommand("status", "Print the control plane's state as JSON");
  status_cmd->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  if (Status s = ApplyCommonFlags(common); !s.ok()) return ExitCode(s);

  Runtime rt;
  Status result;
  if (*up_cmd) {
    up.node = !up_no_node;
    result = rt.Run([&] { return up::RunUp(rt, up, server); });
  } else if (*server_cmd) {
    server.etcd_endpoints = SplitList(etcd_list);
    result = rt.Run([&]() -> Task<Status> {
      TG_CO_ASSIGN_OR_RETURN(auto client, Connect(rt, server.etcd_endpoints));
      co_return co_await server::RunServer(rt, *client, server);
    });
  } else if (*node_cmd) {
    for (const auto& text : node_volumes) {
      auto spec = ParseVolumeFlag(text);
      if (!spec.ok()) return ExitCode(spec.status());
      node.volumes.push_back(std::move(*spec));
    }
    for (const auto& text : node_vhost_blk) {
      auto blk = ParseVhostBlkFlag(text);
      if (!blk.ok()) return ExitCode(blk.status());
      node.vhost_blk.push_back(std::move(*blk));
    }
    node.etcd_endpoints = SplitList(etcd_list);
    if (node.name.empty()) node.name = DefaultHostName();
    node.compute_options.capacity.memory_mib = node_memory_mib;
    node.compute_options.stop_grace = std::chrono::seconds(node_stop_grace);
    if (node_accel != "auto") {
      node.compute_options.accelerator =
          node_accel == "kvm" ? compute::Accelerator::kKvm : compute::Accelerator::kTcg;
    }
    result = rt.Run([&] { return host::RunNode(rt, node); });
  } else if (*chunkserver_cmd) {
    chunkserver.recovery_bytes_per_second =
        static_cast<uint64_t>(recovery_mib_per_second * (1 << 20));
    result = rt.Run([&]() -> Task<Status> {
      TG_CO_ASSIGN_OR_RETURN(auto client, Connect(rt, SplitList(etcd_list)));
      co_return co_await storage::RunChunkserver(*client, chunkserver, rt.shutdown());
    });
  } else if (*volume_cmd || *storage_cmd) {
    result = rt.Run([&]() -> Task<Status> {
      TG_CO_ASSIGN_OR_RETURN(auto client, Connect(rt, SplitList(etcd_list)));
      TG_CO_RETURN_IF_ERROR(co_await client->CheckReachable());
      storage::VolumeStore store(*client);
      if (*vcreate) {
        TG_CO_ASSIGN_OR_RETURN(uint64_t size, ParseSize(volume_size));
        storage::CreateVolumeRequest request{.name = volume_name, .size = size, .wait = !no_wait};
        co_return co_await VolumeCreate(store, request);
      }
      if (*vlist) co_return co_await VolumeList(store);
      if (*vsnapshot) co_return co_await VolumeSnapshot(store, volume_name, target_name);
      if (*vclone) {
        storage::CloneVolumeRequest request{
            .snapshot = volume_name, .name = target_name, .wait = !no_wait};
        co_return co_await VolumeClone(store, request);
      }
      if (*vresize) {
        TG_CO_ASSIGN_OR_RETURN(uint64_t size, ParseSize(volume_size));
        co_return co_await VolumeResize(store, volume_name, size);
      }
      if (*vshow) co_return co_await VolumeShow(store, volume_name);
      if (*vdelete) {
        storage::DeleteVolumeRequest request{.name = volume_name, .force = force, .wait = !no_wait};
        co_return co_await VolumeDelete(store, request);
      }
      co_return co_await StorageStatus(store);
    });
  } else if (api_client.chosen()) {
    result = api_client.Run();
  } else if (network.chosen() || compute.chosen() || accounts.chosen()) {
    result = rt.Run([&]() -> Task<Status> {
      TG_CO_ASSIGN_OR_RETURN(auto client, Connect(rt, SplitList(etcd_list)));
      TG_CO_RETURN_IF_ERROR(co_await client->CheckReachable());
      if (network.chosen()) co_return co_await network.Run(*client);
      if (accounts.chosen()) co_return co_await accounts.Run(*client);
      co_return co_await compute.Run(*client);
    });
  } else if (*status_cmd) {
    result = rt.Run([&] { return RunStatus(rt, SplitList(etcd_list)); });
  }
  return ExitCode(result);
}

}  // namespace
}  // namespace tg::cli

int main(int argc, char** argv) {
  return tg::cli::Main(argc, argv);
}
