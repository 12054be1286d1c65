#include "up/up.h"

#include <filesystem>

#include "base/log.h"
#include "etcd/local_etcd.h"
#include "storage/chunkserver/agent.h"

namespace tg::up {

namespace {

Task<void> RunLocalChunkserver(etcd::Client& client, storage::ChunkserverOptions options,
                               Event& stop) {
  Status s = co_await storage::RunChunkserver(client, options, stop);
  if (!s.ok()) log::Get("up")->error("chunkserver {} ended: {}", options.data_dir, s);
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
    log->info("tiangong is up etcd={} state={} chunkservers={}", store->client_url(), up.state_dir,
              up.chunkservers);
    // The store dying under us is fatal: stop everything and say so.
    auto outcome = co_await (server::RunServer(rt, *client, server) ||
                             store->process().AsyncWaitExit(rt.executor()));
    if (outcome.index() == 0) {
      result = std::get<0>(outcome);
    } else {
      result = Unavailable("the local etcd exited unexpectedly; see {}", store->options().log_path);
    }
    stop_chunkservers.Set();
    co_await chunkservers.Close();
  }
  TG_CO_RETURN_IF_ERROR(store->Stop());
  log->info("tiangong is down");
  co_return result;
}

}  // namespace tg::up
