// Copyset placement: replicas on distinct hosts (and racks where there are
// enough), few distinct replica groups, and recovery targets that complete a
// copyset.
#include "storage/master/placement.h"

#include <gtest/gtest.h>

#include <set>

namespace tg::storage {
namespace {

std::vector<ChunkserverInfo> Servers(int n, int racks) {
  std::vector<ChunkserverInfo> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({.id = fmt::format("s{:02}", i),
                   .address = "",
                   .host = fmt::format("h{}", i),
                   .rack = fmt::format("r{}", i % racks)});
  }
  return out;
}

TEST(Copysets, ReplicasOnDistinctHostsAndRacks) {
  auto servers = Servers(12, 3);
  auto sets = BuildCopysets(servers, 3, 4);
  ASSERT_FALSE(sets.empty());
  std::map<std::string, std::string> rack;
  for (const auto& s : servers) rack[s.id] = s.rack;
  for (const auto& c : sets) {
    ASSERT_EQ(c.size(), 3u);
    std::set<std::string> racks{rack[c[0]], rack[c[1]], rack[c[2]]};
    EXPECT_EQ(racks.size(), 3u);
  }
  // Deterministic: a standby master computes the same sets.
  EXPECT_EQ(sets, BuildCopysets(servers, 3, 4));
}

TEST(Copysets, BoundTheReplicaGroupsThatCanLoseData) {
  // 30 servers, scatter width 4: two permutations, at most 20 copysets,
  // against 4060 possible triples for random placement.
  auto servers = Servers(30, 1);
  auto sets = BuildCopysets(servers, 3, 4);
  EXPECT_LE(sets.size(), 20u);
  EXPECT_GE(sets.size(), 10u);
  // Placing many chunks uses only those groups, spread evenly.
  std::map<std::string, uint64_t> load;
  std::set<Copyset> used;
  for (int i = 0; i < 600; ++i) {
    Copyset c = PickCopyset(sets, load);
    used.insert(c);
    for (const auto& id : c) ++load[id];
  }
  EXPECT_LE(used.size(), sets.size());
  uint64_t lo = UINT64_MAX, hi = 0;
  for (const auto& [id, n] : load) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_LE(hi - lo, hi / 2) << "placement is lopsided";
}

TEST(Copysets, EveryServerIsInOne) {
  for (int n : {3, 4, 5, 7, 10}) {
    auto servers = Servers(n, 1);
    std::set<std::string> covered;
    for (const auto& c : BuildCopysets(servers, 3, 4)) covered.insert(c.begin(), c.end());
    EXPECT_EQ(covered.size(), size_t(n)) << n << " servers";
  }
}

TEST(Copysets, TooFewHostsPlaceNothing) {
  auto servers = Servers(3, 1);
  servers[2].host = servers[1].host;  // two on one host
  EXPECT_TRUE(BuildCopysets(servers, 3, 4).empty());
  EXPECT_TRUE(PickCopyset({}, {}).empty());
}

TEST(RecoveryTarget, CompletesACopysetOrTakesANewHost) {
  auto servers = Servers(6, 1);
  auto sets = BuildCopysets(servers, 3, 2);
  ASSERT_FALSE(sets.empty());
  Copyset c = sets[0];
  // c[2] failed: its copyset partner, if live, is the answer.
  std::vector<ChunkserverInfo> live;
  for (const auto& s : servers)
    if (s.id != c[2]) live.push_back(s);
  std::string t = PickRecoveryTarget(sets, live, {c[0], c[1]}, {});
  EXPECT_FALSE(t.empty());
  EXPECT_NE(t, c[0]);
  EXPECT_NE(t, c[1]);
  EXPECT_NE(t, c[2]);
  // Never a server on a member's host.
  live[0].host = "shared";
  std::vector<ChunkserverInfo> same_host = {live[0]};
  ChunkserverInfo member = live[0];
  member.id = "m";
  same_host.push_back(member);
  EXPECT_TRUE(PickRecoveryTarget({}, same_host, {"m"}, {}).empty());
}

}  // namespace
}  // namespace tg::storage
