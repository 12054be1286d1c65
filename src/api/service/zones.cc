#include "api/service/zones.h"

#include <set>

#include "compute/model/records.h"

namespace tg::api {

Task<ApiResult<std::vector<std::string>>> CloudZones(CallContext& ctx) {
  auto nodes = co_await ctx.services.etcd.Get(std::string(compute::kNodesPrefix), {.prefix = true});
  if (!nodes.ok()) co_return FromStatus(nodes.status());
  std::set<std::string> zones;
  for (const auto& kv : nodes->kvs) {
    auto node = compute::DecodeComputeNode(kv.value);
    if (!node.ok()) co_return FromStatus(node.status());
    zones.insert(node->zone.empty() ? std::string(kDefaultZone) : node->zone);
  }
  if (zones.empty()) zones.insert(std::string(kDefaultZone));
  co_return std::vector<std::string>(zones.begin(), zones.end());
}

}  // namespace tg::api
