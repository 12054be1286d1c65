#include "storage/master/placement.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace tg::storage {

std::vector<Copyset> BuildCopysets(std::vector<ChunkserverInfo> servers, int replicas,
                                   int scatter_width) {
  std::sort(servers.begin(), servers.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  std::set<std::string> racks;
  for (const auto& s : servers) racks.insert(s.rack);
  const bool distinct_racks = static_cast<int>(racks.size()) >= replicas;
  const int permutations = std::max(1, (scatter_width + replicas - 2) / (replicas - 1));
  std::mt19937_64 rng(0x7469616e67);  // fixed: every master draws the same
  std::set<Copyset> seen;
  std::vector<Copyset> out;
  for (int p = 0; p < permutations; ++p) {
    std::vector<const ChunkserverInfo*> order;
    for (const auto& s : servers) order.push_back(&s);
    if (p > 0) std::shuffle(order.begin(), order.end(), rng);
    // Consecutive groups; the last wraps around to the start, so that every
    // server is in some copyset even when the count is not a multiple.
    for (size_t i = 0; order.size() >= static_cast<size_t>(replicas) && i < order.size();
         i += replicas) {
      std::set<std::string> hosts, group_racks;
      Copyset c;
      for (int k = 0; k < replicas; ++k) {
        const ChunkserverInfo* s = order[(i + k) % order.size()];
        hosts.insert(s->host);
        group_racks.insert(s->rack);
        c.push_back(s->id);
      }
      if (static_cast<int>(hosts.size()) < replicas) continue;
      if (distinct_racks && static_cast<int>(group_racks.size()) < replicas) continue;
      std::sort(c.begin(), c.end());
      if (seen.insert(c).second) out.push_back(c);
    }
  }
  // Too few servers for a clean cut (or unlucky draws): fall back to every
  // valid group of the first servers so that placement is never stuck.
  if (out.empty() && static_cast<int>(servers.size()) >= replicas) {
    std::vector<std::string> ids;
    for (const auto& s : servers) ids.push_back(s.id);
    for (size_t a = 0; a < servers.size(); ++a)
      for (size_t b = a + 1; b < servers.size(); ++b)
        for (size_t c = b + 1; c < servers.size() && replicas == 3; ++c) {
          std::set<std::string> hosts{servers[a].host, servers[b].host, servers[c].host};
          if (hosts.size() == 3) out.push_back({ids[a], ids[b], ids[c]});
        }
  }
  return out;
}

namespace {
uint64_t LoadOf(const std::map<std::string, uint64_t>& load, const std::string& id) {
  auto it = load.find(id);
  return it == load.end() ? 0 : it->second;
}
}  // namespace

Copyset PickCopyset(const std::vector<Copyset>& copysets,
                    const std::map<std::string, uint64_t>& load) {
  const Copyset* best = nullptr;
  uint64_t best_load = 0;
  for (const auto& c : copysets) {
    uint64_t l = 0;
    for (const auto& id : c) l += LoadOf(load, id);
    if (!best || l < best_load) {
      best = &c;
      best_load = l;
    }
  }
  return best ? *best : Copyset{};
}

std::string PickRecoveryTarget(const std::vector<Copyset>& copysets,
                               const std::vector<ChunkserverInfo>& live,
                               const std::vector<std::string>& members,
                               const std::map<std::string, uint64_t>& load) {
  std::map<std::string, const ChunkserverInfo*> by_id;
  for (const auto& s : live) by_id[s.id] = &s;
  std::set<std::string> member_hosts, member_racks;
  for (const auto& m : members) {
    if (auto it = by_id.find(m); it != by_id.end()) {
      member_hosts.insert(it->second->host);
      member_racks.insert(it->second->rack);
    }
  }
  auto is_member = [&](const std::string& id) {
    return std::find(members.begin(), members.end(), id) != members.end();
  };
  auto usable = [&](const std::string& id) {
    auto it = by_id.find(id);
    return it != by_id.end() && !is_member(id) && !member_hosts.count(it->second->host);
  };
  // A copyset that holds every member and one usable server.
  std::string best;
  for (const auto& c : copysets) {
    size_t held = 0;
    std::string candidate;
    for (const auto& id : c) {
      if (is_member(id)) {
        ++held;
      } else if (usable(id)) {
        candidate = id;
      }
    }
    if (held == members.size() && !candidate.empty() &&
        (best.empty() || LoadOf(load, candidate) < LoadOf(load, best))) {
      best = candidate;
    }
  }
  if (!best.empty()) return best;
  // Otherwise the least loaded usable server, a new rack first.
  int best_rank = -1;
  for (const auto& s : live) {
    if (!usable(s.id)) continue;
    const int rank = member_racks.count(s.rack) ? 0 : 1;
    if (best.empty() || rank > best_rank ||
        (rank == best_rank && LoadOf(load, s.id) < LoadOf(load, best))) {
      best = s.id;
      best_rank = rank;
    }
  }
  return best;
}

}  // namespace tg::storage
