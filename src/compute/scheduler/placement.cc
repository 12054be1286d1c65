#include "compute/scheduler/placement.h"

#include <cmath>

namespace tg::compute {

namespace {

constexpr size_t kNodesNamed = 4;        // in a no-fit reason; the rest are counted
constexpr size_t kMaxReasonBytes = 480;  // a status reason stays short

std::string HostOf(const ComputeNode& node) {
  return node.host.empty() ? node.name : node.host;
}

void Add(Resources& to, const Resources& r) {
  to.vcpus += r.vcpus;
  to.memory_mib += r.memory_mib;
}

bool Fits(const Resources& used, const Resources& need, const Resources& limit) {
  // Written so that no sum can wrap.
  return need.vcpus <= limit.vcpus && used.vcpus <= limit.vcpus - need.vcpus &&
         need.memory_mib <= limit.memory_mib &&
         used.memory_mib <= limit.memory_mib - need.memory_mib;
}

double Share(uint64_t used, uint64_t limit) {
  return limit == 0 ? 1.0 : static_cast<double>(used) / static_cast<double>(limit);
}

bool RatioOk(double r) {
  return std::isfinite(r) && r >= 0.1 && r <= 64;
}

}  // namespace

Status ValidatePlacementPolicy(const PlacementPolicy& policy) {
  if (!RatioOk(policy.cpu_overcommit))
    return InvalidArgument("cpu overcommit {} is not in [0.1, 64]", policy.cpu_overcommit);
  if (!RatioOk(policy.memory_overcommit))
    return InvalidArgument("memory overcommit {} is not in [0.1, 64]", policy.memory_overcommit);
  return Status::Ok();
}

Resources NodeLimit(const ComputeNode& node, const PlacementPolicy& policy) {
  // The ratios are at most 64, so neither product leaves the 64-bit range
  // for any capacity a record can hold (vCPUs are 32 bits; memory is capped
  // far below 2^58 MiB by any real machine, and clamped here regardless).
  const double cpus = std::floor(node.capacity.vcpus * policy.cpu_overcommit);
  const double mem =
      std::floor(static_cast<double>(node.capacity.memory_mib) * policy.memory_overcommit);
  Resources limit;
  limit.vcpus = cpus >= 4294967295.0 ? UINT32_MAX : static_cast<uint32_t>(cpus);
  limit.memory_mib = mem >= 1.8e19 ? UINT64_MAX : static_cast<uint64_t>(mem);
  return limit;
}

PlacementView::PlacementView(const ComputeState& state, PlacementPolicy policy) : policy_(policy) {
  for (const auto& [name, e] : state.nodes) {
    nodes_[name] = e.value;
    used_[name] = {};
  }
  for (const auto& [id, e] : state.deployment_sets) set_domains_[id] = e.value.domain;
  for (const auto& [node, e] : state.allocations) used_[node] = e.value.Used();
  for (const auto& [id, e] : state.instances) {
    const Instance& inst = e.value;
    if (inst.host.empty()) continue;
    const auto alloc = state.allocations.find(inst.host);
    if (alloc == state.allocations.end() || !alloc->second.value.instances.count(id))
      Add(used_[inst.host], inst.resources);
    if (!inst.deployment_set.empty()) Bind(inst, inst.host);
  }
}

void PlacementView::Bind(const Instance& instance, const std::string& node) {
  if (instance.host.empty()) Add(used_[node], instance.resources);  // a new bind
  if (instance.deployment_set.empty()) return;
  const auto it = nodes_.find(node);
  Member m{.instance = instance.id, .host = node, .rack = ""};
  if (it != nodes_.end()) {
    m.host = HostOf(it->second);
    m.rack = it->second.rack;
  }
  members_[instance.deployment_set].push_back(std::move(m));
}

Resources PlacementView::used(const std::string& node) const {
  const auto it = used_.find(node);
  return it == used_.end() ? Resources{} : it->second;
}

std::string PlacementView::DomainOf(const std::string& set) const {
  // A set whose record is gone keeps the default domain: its members are
  // still kept apart.
  const auto it = set_domains_.find(set);
  return it != set_domains_.end() && it->second == "rack" ? "rack" : "host";
}

std::string PlacementView::Misfit(const ComputeNode& node, const Instance& instance,
                                  const std::string& domain) const {
  if (!node.schedulable) return fmt::format("{} unschedulable", node.name);
  const Resources u = used(node.name);
  const Resources limit = NodeLimit(node, policy_);
  if (!Fits(u, instance.resources, limit)) {
    return fmt::format("{} {}/{} vCPUs {}/{} MiB", node.name, u.vcpus, limit.vcpus, u.memory_mib,
                       limit.memory_mib);
  }
  if (!instance.deployment_set.empty()) {
    const auto members = members_.find(instance.deployment_set);
    if (members != members_.end()) {
      const bool by_rack = domain == "rack";
      const std::string mine = by_rack ? node.rack : HostOf(node);
      for (const Member& m : members->second) {
        if (m.instance != instance.id && (by_rack ? m.rack : m.host) == mine)
          return fmt::format("{} {} {} has {}", node.name, domain, mine, m.instance);
      }
    }
  }
  return "";
}

Result<std::string> PlacementView::Choose(const Instance& instance) const {
  const std::string domain = DomainOf(instance.deployment_set);
  const std::string* best = nullptr;
  double best_score = 0;
  std::vector<std::string> misfits;
  size_t elsewhere = 0;
  for (const auto& [name, node] : nodes_) {
    if (node.zone != instance.zone) {
      ++elsewhere;
      continue;
    }
    std::string why = Misfit(node, instance, domain);
    if (!why.empty()) {
      misfits.push_back(std::move(why));
      continue;
    }
    const Resources u = used(name);
    const Resources limit = NodeLimit(node, policy_);
    const double score =
        std::max(Share(u.vcpus + instance.resources.vcpus, limit.vcpus),
                 Share(u.memory_mib + instance.resources.memory_mib, limit.memory_mib));
    const bool better = policy_.strategy == PlacementPolicy::Strategy::kSpread ? score < best_score
                                                                               : score > best_score;
    // Nodes come in name order, so a tie keeps the first name.
    if (best == nullptr || better) {
      best = &name;
      best_score = score;
    }
  }
  if (best != nullptr) return *best;

  std::string reason;
  if (misfits.empty()) {
    reason = fmt::format("no live compute node in zone {} ({} in other zones)",
                         instance.zone.empty() ? "\"\"" : instance.zone, elsewhere);
  } else {
    reason = fmt::format(
        "no node in zone {} has {} vCPUs and {} MiB free{}: ", instance.zone,
        instance.resources.vcpus, instance.resources.memory_mib,
        instance.deployment_set.empty()
            ? std::string(" (used/limit)")
            : fmt::format(" on a {} free of {} (used/limit)", domain, instance.deployment_set));
    for (size_t i = 0; i < misfits.size() && i < kNodesNamed; ++i)
      reason += (i ? ", " : "") + misfits[i];
    if (misfits.size() > kNodesNamed)
      reason += fmt::format(", and {} more", misfits.size() - kNodesNamed);
  }
  if (reason.size() > kMaxReasonBytes) {
    // Cut on a character boundary (names may be UTF-8).
    size_t cut = kMaxReasonBytes - 3;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut) + "...";
  }
  return ResourceExhausted("{}", reason);
}

}  // namespace tg::compute
