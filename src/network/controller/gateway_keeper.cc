#include "network/controller/gateway_keeper.h"

#include "base/log.h"
#include "network/controller/vpc_store.h"

namespace tg::network {

namespace {
auto Log() {
  static auto log = log::Get("gateway-keeper");
  return log;
}
}  // namespace

Task<void> GatewayKeeper::Lead(Event& stop) {
  co_await asio::this_coro::throw_if_cancelled(false);
  Log()->info("keeping gateways on live gateway nodes");
  while (!stop.is_set() && !co_await IsCancelled()) {
    // Looked at again only when the records changed, or a move failed.
    if (records_.loaded() && (records_.revision() != seen_revision_ || !settled_)) {
      seen_revision_ = records_.revision();
      const Status s = co_await Pass();
      // A move that failed on the way (etcd away, a race) is tried again
      // each second; an unreadable record, a refused move or lost
      // leadership waits for the records to change.
      settled_ = s.ok() || s.code() == ErrorCode::kCancelled ||
                 s.code() == ErrorCode::kInvalidArgument ||
                 s.code() == ErrorCode::kFailedPrecondition;
      if (!s.ok() && !settled_) Log()->warn("gateway pass: {}", s);
    }
    try {
      co_await (stop.Wait() || records_.changed().Wait() || SleepFor(std::chrono::seconds(1)));
    } catch (const boost::system::system_error&) {
      break;
    }
    records_.changed().Reset();
  }
}

Task<Status> GatewayKeeper::Pass() {
  // Only the gateways' records and the gateway nodes (not the interfaces:
  // there may be many thousands).
  std::vector<etcd::KeyValue> kvs;
  for (std::string_view prefix :
       {kEipsPrefix, kNatGatewaysPrefix, kVpnGatewaysPrefix, kGatewayHostsPrefix}) {
    for (auto it = records_.kvs().lower_bound(std::string(prefix));
         it != records_.kvs().end() && it->first.starts_with(prefix); ++it)
      kvs.push_back(it->second);
  }
  auto parsed = ParseNetworkState(kvs, records_.revision());
  if (!parsed.ok()) {
    // Acting on the rest could move a gateway the unreadable record would
    // have placed differently: nothing changes until the records do.
    Log()->error("gateway pass at revision {} stopped, nothing moved: {}", records_.revision(),
                 parsed.status());
    co_return parsed.status();
  }
  const NetworkState& st = *parsed;
  if (st.gateway_hosts.empty()) co_return Status::Ok();  // nowhere to go: wait for one
  std::map<std::string, int> load;
  for (const auto& h : st.gateway_hosts) load[h] = 0;
  std::vector<std::pair<std::string, std::string>> orphans;  // id, its dead node
  auto count = [&](const std::string& id, const std::string& host) {
    if (load.count(host)) {
      ++load[host];
    } else {
      orphans.emplace_back(id, host);
    }
  };
  for (const auto& [id, e] : st.eips)
    if (e.value.nat_id.empty()) count(id, e.value.host);  // a NAT gateway's EIPs move with it
  for (const auto& [id, n] : st.nat_gateways) count(id, n.value.host);
  for (const auto& [id, v] : st.vpn_gateways) count(id, v.value.host);
  VpcStore store(client_, fence_);
  Status result;
  for (const auto& [id, from] : orphans) {
    auto to = load.begin();
    for (auto it = load.begin(); it != load.end(); ++it)
      if (it->second < to->second) to = it;
    Status s = co_await store.MoveGateway(id, to->first);
    if (s.code() == ErrorCode::kCancelled) {
      Log()->warn("not leading any more: the pass stops ({})", s);
      co_return s;
    }
    if (s.ok()) {
      ++to->second;
      Log()->warn("gateway node {} is gone: {} moved to {}", from.empty() ? "(none)" : from, id,
                  to->first);
    } else {
      Log()->warn("moving {} off {}: {}", id, from, s);
      if (result.ok()) result = s;
    }
  }
  co_return result;
}

}  // namespace tg::network
