#include "server/server.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "compute/model/records.h"
#include "compute/scheduler/scheduler.h"
#include "etcd/election.h"
#include "etcd/lease.h"
#include "etcd/mirror.h"
#include "network/controller/gateway_keeper.h"
#include "network/model/vpc.h"
#include "storage/common/metadata.h"
#include "storage/master/master.h"

namespace tg::server {

namespace {

auto Log() {
  static auto log = log::Get("server");
  return log;
}

std::string DefaultName() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}-{}", host, getpid());
}

}  // namespace

Task<Status> RunServer(Runtime& runtime, etcd::Client& client, const ServerOptions& options) {
  const std::string name = options.name.empty() ? DefaultName() : options.name;
  const std::chrono::seconds ttl(options.lease_ttl_seconds);
  TG_CO_RETURN_IF_ERROR(compute::ValidatePlacementPolicy(options.placement));
  TG_CO_RETURN_IF_ERROR(co_await client.CheckReachable());

  // Registration: a key that lives exactly as long as this server does.
  TG_CO_ASSIGN_OR_RETURN(auto registration, co_await etcd::LeaseKeeper::Start(client, ttl));
  nlohmann::json info = {{"name", name}, {"pid", getpid()}};
  auto put = co_await client.Put(kServersPrefix + name, info.dump(), {.lease = registration->id()});
  if (!put.ok()) {
    (co_await registration->Revoke()).IgnoreError();
    co_return put.status();
  }
  Log()->info("server registered name={} etcd={}", name, client.current_endpoint());

  etcd::Election election(client, kControllerElection, name, ttl);
  // Kept current on standbys too: a new leader acts on it at once.
  etcd::Mirror storage_state(client, std::string(storage::kStoragePrefix));
  etcd::Mirror network_state(client, std::string(network::kNetworkPrefix));
  etcd::Mirror compute_state(client, std::string(compute::kComputePrefix));
  TaskGroup mirrors(runtime.executor());
  mirrors.Spawn("storage state mirror", storage_state.Run());
  mirrors.Spawn("network state mirror", network_state.Run());
  mirrors.Spawn("compute state mirror", compute_state.Run());
  Status api_failed;
  if (api::ServesApi(options.api)) {
    mirrors.Spawn("API", [&]() -> Task<void> {
      Status s = co_await api::ServeApi(client, options.api, runtime.shutdown());
      if (!s.ok()) {
        // A server asked to serve the API that cannot is of no use to its
        // callers: it stops rather than run without it.
        Log()->error("API failed: {}", s);
        api_failed = s;
        runtime.RequestShutdown();
      }
    }());
  }
  Status result;
  while (!runtime.shutdown().is_set()) {
    auto campaign = co_await (election.Campaign() || runtime.shutdown().Wait());
    if (campaign.index() == 1) break;
    if (Status s = std::get<0>(campaign); !s.ok()) {
      Log()->warn("campaign failed, retrying: {}", s);
      if (!co_await SleepFor(1s)) break;
      continue;
    }
    Log()->info("leading the controllers name={}", name);
    // The controllers run only while this server leads; each stops acting
    // before its lease can lapse (the election's lost() comes first).
    Event stop_controllers(runtime.executor());
    TaskGroup controllers(runtime.executor());
    storage::Master master(client, storage_state, election.OwnerCompare());
    controllers.Spawn("storage master", master.Lead(stop_controllers));
    network::GatewayKeeper gateways(client, network_state, election.OwnerCompare());
    controllers.Spawn("gateway keeper", gateways.Lead(stop_controllers));
    compute::Scheduler scheduler(client, compute_state, election.OwnerCompare(),
                                 {.policy = options.placement});
    controllers.Spawn("compute scheduler", scheduler.Lead(stop_controllers));
    auto ended = co_await (election.lost().Wait() || runtime.shutdown().Wait());
    if (ended.index() == 0) Log()->warn("lost controller leadership name={}", name);
    stop_controllers.Set();
    co_await controllers.Close();
  }
  mirrors.CancelAll();
  co_await mirrors.Close();
  Status resigned = co_await election.Resign();
  if (!resigned.ok()) Log()->warn("resign failed: {}", resigned);
  Status revoked = co_await registration->Revoke();
  if (!revoked.ok()) Log()->warn("deregistration failed: {}", revoked);
  Log()->info("server stopped name={}", name);
  co_return api_failed;
}

}  // namespace tg::server
