#include "up/up.h"

#include <filesystem>

#include "base/log.h"
#include "compute/store/compute_store.h"
#include "etcd/local_etcd.h"
#include "host/node.h"
#include "storage/chunkserver/agent.h"
#include "up/api_bootstrap.h"

namespace tg::up {

namespace {

Task<void> RunLocalChunkserver(etcd::Client& client, storage::ChunkserverOptions options,
                               Event& stop) {
  Status s = co_await storage::RunChunkserver(client, options, stop);
  if (!s.ok()) log::Get("up")->error("chunkserver {} ended: {}", options.data_dir, s);
}

Task<void> RunLocalNode(Runtime& rt, host::NodeOptions options) {
  Status s = co_await host::RunNode(rt, options);
  if (!s.ok()) log::Get("up")->error("node {} ended: {}", options.name, s);
}

// Imports the default image once the storage can take it (the master
// leads and the chunkservers have registered: the import's volume create
// waits for placement), unless an image of that name is there already.
Task<void> ImportDefaultImage(etcd::Client& client, std::string file, std::string name) {
  auto log = log::Get("up");
  storage::VolumeStore volumes(client);
  network::VpcStore vpcs(client);
  compute::ComputeStore store(client, volumes, vpcs);
  for (int attempt = 0; attempt < 60; ++attempt) {
    auto st = co_await store.Read();
    if (st.ok()) {
      for (const auto& [id, image] : st->images) {
        if (image.value.name == name) {
          log->info("default image {} is there: {}", name, id);
          co_return;
        }
      }
    }
    // Named, not a braced temporary inside co_await: see etcd/client.h.
    compute::ImportImageRequest request{.name = name,
                                        .file = file,
                                        .platform = "Busybox",
                                        .os_name = "Tiangong busybox test image"};
    auto imported = co_await store.ImportImage(request);
    if (imported.ok()) {
      log->info("default image imported: {} {} (tiangong instance create --image {} ...)",
                imported->id, name, name);
      co_return;
    }
    if (imported.status().code() != ErrorCode::kUnavailable &&
        imported.status().code() != ErrorCode::kDeadlineExceeded) {
      log->error("default image {} not imported: {}", file, imported.status());
      co_return;
    }
    if (!co_await SleepFor(std::chrono::seconds(1))) co_return;
  }
}

}  // namespace

Task<Status> RunUp(Runtime& rt, UpOptions up, server::ServerOptions server) {
  auto log = log::Get("up");
  std::error_code ec;
  std::filesystem::create_directories(up.state_dir, ec);
  if (ec) co_return ErrnoStatus(ec.value(), "create state directory " + up.state_dir);
  // Named, not a braced temporary inside co_await: see etcd/client.h.
  etcd::LocalEtcdOptions store_options{.name = "tiangong",
                                       .data_dir = up.state_dir + "/etcd",
                                       .client_port = up.etcd_client_port,
                                       .peer_port = up.etcd_peer_port,
                                       .binary = up.etcd_binary};
  auto started = co_await etcd::LocalEtcd::Start(rt.executor(), store_options);
  if (!started.ok()) co_return started.status().Annotate("starting the local etcd");
  std::unique_ptr<etcd::LocalEtcd> store = std::move(*started);
  server.etcd_endpoints = {store->client_url()};
  if (server.name.empty()) server.name = "local";
  TG_CO_RETURN_IF_ERROR(PrepareApi(up.state_dir, server.api));

  Status result;
  {
    TG_CO_ASSIGN_OR_RETURN(
        auto client, etcd::Client::Create(rt.executor(), {.endpoints = server.etcd_endpoints}));
    // Chunkservers beside the server, each its own data directory and
    // "host", so that three replicas have three failure domains to go to.
    Event stop_chunkservers(rt.executor());
    TaskGroup chunkservers(rt.executor());
    for (int i = 1; i <= up.chunkservers; ++i) {
      storage::ChunkserverOptions cs{.data_dir = fmt::format("{}/chunkserver-{}", up.state_dir, i),
                                     .listen = "127.0.0.1:0",
                                     .host = fmt::format("local-{}", i)};
      chunkservers.Spawn("chunkserver", RunLocalChunkserver(*client, cs, stop_chunkservers));
    }
    // The host: its vSwitch (VXLAN on loopback) and the compute agent.
    TaskGroup hosts(rt.executor());  // each stops on shutdown by itself
    if (up.node) {
      host::NodeOptions node{.etcd_endpoints = server.etcd_endpoints,
                             .name = "local",
                             .vswitch = true,
                             .tunnel_ip = "127.0.0.1",
                             .vswitch_state = up.state_dir + "/vswitch-local.json",
                             .gateway_uplink = up.gateway_uplink,
                             .vhost_net_dir = up.state_dir + "/vhost-net",
                             .compute = true};
      node.compute_options.run_dir = up.state_dir + "/instances";
      hosts.Spawn("node", RunLocalNode(rt, node));
      if (!up.default_image.empty())
        hosts.Spawn("default image",
                    ImportDefaultImage(*client, up.default_image, up.default_image_name));
    }
    log->info("tiangong is up etcd={} state={} chunkservers={} node={}", store->client_url(),
              up.state_dir, up.chunkservers, up.node ? "local" : "none");
    if (Status s = co_await BootstrapApiAdmin(*client, up.state_dir, server.api); !s.ok())
      log->error("API admin account: {}", s);
    // The store dying under us is fatal: stop everything and say so.
    auto outcome = co_await (server::RunServer(rt, *client, server) ||
                             store->process().AsyncWaitExit(rt.executor()));
    if (outcome.index() == 0) {
      result = std::get<0>(outcome);
    } else {
      result = Unavailable("the local etcd exited unexpectedly; see {}", store->options().log_path);
    }
    rt.RequestShutdown();  // the node and the import stop with the server
    co_await hosts.Close();
    stop_chunkservers.Set();
    co_await chunkservers.Close();
  }
  TG_CO_RETURN_IF_ERROR(store->Stop());
  log->info("tiangong is down");
  co_return result;
}

}  // namespace tg::up
