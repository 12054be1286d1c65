#include "compute/model/host_view.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace tg::compute {

std::vector<HostView> DescribeHosts(const ComputeState& st) {
  std::set<std::string> names;
  for (const auto& [name, e] : st.nodes) names.insert(name);
  for (const auto& [name, e] : st.allocations) names.insert(name);
  for (const auto& [name, e] : st.node_losses) names.insert(name);
  for (const auto& [name, e] : st.drains) names.insert(name);
  std::vector<HostView> out;
  for (const std::string& name : names) {
    HostView h{.name = name};
    if (auto n = st.nodes.find(name); n != st.nodes.end()) h.node = n->second.value;
    if (auto a = st.allocations.find(name); a != st.allocations.end())
      h.used = a->second.value.Used();
    for (const auto& [id, i] : st.instances) h.instances += i.value.host == name;
    const auto loss = st.node_losses.find(name);
    if (loss != st.node_losses.end()) {
      h.lost_at = loss->second.value.lost_at;
      h.losses = loss->second.value.losses;
    }
    if (h.node && st.drains.contains(name)) {
      // Migrations away from it count until they end.
      bool leaving = h.instances > 0;
      for (const auto& [id, i] : st.instances) {
        if (i.value.migration && i.value.migration->source == name) leaving = true;
      }
      h.state = leaving ? "draining" : "drained";
    } else if (h.node) {
      h.state = loss != st.node_losses.end() ? "quarantined" : "up";
    } else {
      // Restarts from it still under way count as its too.
      bool recovering = h.instances > 0;
      for (const auto& [id, e] : st.events) {
        if (e.value.from_host == name && e.value.status == kEventExecuting) recovering = true;
      }
      h.state = recovering ? "lost" : "fenced";
    }
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<InstanceEvent> EventsOf(const ComputeState& st, const std::string& instance) {
  std::vector<InstanceEvent> out;
  for (const auto& [id, e] : st.events)
    if (e.value.instance == instance) out.push_back(e.value);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

}  // namespace tg::compute
