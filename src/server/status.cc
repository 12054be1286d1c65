#include "server/status.h"

#include "etcd/election.h"
#include "server/server.h"

namespace tg::server {

Task<Result<ControlPlaneStatus>> ReadControlPlaneStatus(etcd::Client& client) {
  TG_CO_RETURN_IF_ERROR(co_await client.CheckReachable());
  TG_CO_ASSIGN_OR_RETURN(auto servers, co_await client.Get(kServersPrefix, {.prefix = true}));
  auto leader = co_await etcd::Election::Leader(client, kControllerElection);
  ControlPlaneStatus status{.etcd_endpoint = client.current_endpoint()};
  if (leader.ok()) status.leader = leader->value;
  for (const auto& kv : servers.kvs) status.servers.push_back(kv.value);
  co_return status;
}

}  // namespace tg::server
