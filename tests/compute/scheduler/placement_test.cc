// Placement decisions: fit, spread, zone, anti-affinity by host and rack,
// overcommit ratios, unschedulable nodes and the no-fit reason.
#include "compute/scheduler/placement.h"

#include <gtest/gtest.h>

#include <set>

#include "support/test_util.h"

namespace tg::compute {
namespace {

class PlacementTest : public ::testing::Test {
 protected:
  void AddNode(const std::string& name, uint32_t vcpus, uint64_t memory_mib,
               const std::string& zone = "z1", const std::string& host = "",
               const std::string& rack = "", bool schedulable = true) {
    ComputeNode n;
    n.name = name;
    n.capacity = {vcpus, memory_mib};
    n.zone = zone;
    n.host = host.empty() ? name : host;
    n.rack = rack;
    n.schedulable = schedulable;
    state_.nodes[name] = {n, 1};
  }
  static Instance Make(const std::string& id, uint32_t vcpus, uint64_t memory_mib,
                       const std::string& zone = "z1", const std::string& set = "") {
    Instance i;
    i.id = id;
    i.resources = {vcpus, memory_mib};
    i.zone = zone;
    i.deployment_set = set;
    return i;
  }
  void AddBound(Instance i, const std::string& node) {
    i.host = node;
    state_.allocations[node].value.node = node;
    state_.allocations[node].value.instances[i.id] = i.resources;
    state_.instances[i.id] = {i, 1};
  }
  void AddSet(const std::string& id, const std::string& domain) {
    DeploymentSet s;
    s.id = id;
    s.domain = domain;
    state_.deployment_sets[id] = {s, 1};
  }
  Result<std::string> Choose(const Instance& i) { return PlacementView(state_, policy_).Choose(i); }

  ComputeState state_;
  PlacementPolicy policy_;
};

TEST_F(PlacementTest, DefaultsAreDocumented) {
  EXPECT_EQ(policy_.cpu_overcommit, 4.0);
  EXPECT_EQ(policy_.memory_overcommit, 1.0);
  EXPECT_OK(ValidatePlacementPolicy(policy_));
  EXPECT_FALSE(ValidatePlacementPolicy({.cpu_overcommit = 0}).ok());
  EXPECT_FALSE(ValidatePlacementPolicy({.memory_overcommit = 65}).ok());
  EXPECT_FALSE(ValidatePlacementPolicy({.cpu_overcommit = std::nan("")}).ok());
}

TEST_F(PlacementTest, FitsOnlyWhereThereIsRoom) {
  policy_.cpu_overcommit = 1.0;
  AddNode("node-a", 2, 2048);
  AddNode("node-b", 8, 1024);
  // node-a lacks vCPUs, node-b memory: nothing fits 4 vCPUs and 2048 MiB.
  EXPECT_FALSE(Choose(Make("i-1", 4, 2048)).ok());
  EXPECT_EQ(*Choose(Make("i-1", 4, 1024)), "node-b");
  EXPECT_EQ(*Choose(Make("i-1", 2, 2048)), "node-a");
  // Exactly full is a fit.
  AddBound(Make("i-0", 1, 1024), "node-a");
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024)), "node-a");
  EXPECT_FALSE(Choose(Make("i-1", 1, 2048)).ok());
}

TEST_F(PlacementTest, SpreadsToTheLeastLoadedAndBreaksTiesByName) {
  AddNode("node-b", 4, 4096);
  AddNode("node-a", 4, 4096);
  AddNode("node-c", 4, 4096);
  PlacementView view(state_, policy_);
  std::vector<std::string> chosen;
  for (int i = 0; i < 6; ++i) {
    Instance inst = Make(fmt::format("i-{}", i), 1, 1024);
    auto node = view.Choose(inst);
    ASSERT_TRUE(node.ok()) << node.status();
    chosen.push_back(*node);
    view.Bind(inst, *node);
  }
  EXPECT_EQ(chosen,
            (std::vector<std::string>{"node-a", "node-b", "node-c", "node-a", "node-b", "node-c"}));
  EXPECT_EQ(view.used("node-a").vcpus, 2u);
  EXPECT_EQ(view.used("node-a").memory_mib, 2048u);
}

TEST_F(PlacementTest, ScoreIsTheDominantShare) {
  AddNode("node-a", 4, 4096);
  AddNode("node-b", 4, 4096);
  // node-a's memory is half used (its vCPUs barely), node-b's vCPUs are
  // (with 4x CPU overcommit, 8 of 16). With 1 vCPU and 1 GiB more, node-a's
  // dominant share is 3/4 (memory), node-b's 9/16 (vCPUs): node-b wins.
  AddBound(Make("i-a", 1, 2048), "node-a");
  AddBound(Make("i-b", 8, 0), "node-b");
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024)), "node-b");
  // Packing takes the fullest node that fits.
  policy_.strategy = PlacementPolicy::Strategy::kPack;
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024)), "node-a");
}

TEST_F(PlacementTest, StaysInTheInstancesZone) {
  AddNode("node-a", 4, 4096, "z1");
  AddNode("node-b", 64, 65536, "z2");
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024, "z1")), "node-a");
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024, "z2")), "node-b");
  auto none = Choose(Make("i-1", 1, 1024, "z3"));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(none.status().message(), "no live compute node in zone z3 (2 in other zones)");
}

TEST_F(PlacementTest, SkipsUnschedulableNodes) {
  AddNode("node-a", 64, 65536, "z1", "", "", /*schedulable=*/false);
  AddNode("node-b", 2, 2048);
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024)), "node-b");
  auto none = Choose(Make("i-1", 4, 4096));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("node-a unschedulable"), std::string::npos)
      << none.status();
}

TEST_F(PlacementTest, DeploymentSetByHost) {
  AddSet("ds-1", "host");
  AddNode("node-a", 8, 8192, "z1", "h1");
  AddNode("node-a2", 8, 8192, "z1", "h1");  // a second node on the same machine
  AddNode("node-b", 8, 8192, "z1", "h2");
  AddNode("node-c", 8, 8192, "z1", "h3");
  PlacementView view(state_, policy_);
  std::set<std::string> hosts;
  for (int i = 0; i < 3; ++i) {
    Instance inst = Make(fmt::format("i-{}", i), 1, 1024, "z1", "ds-1");
    auto node = view.Choose(inst);
    ASSERT_TRUE(node.ok()) << node.status();
    hosts.insert(state_.nodes[*node].value.host);
    view.Bind(inst, *node);
  }
  EXPECT_EQ(hosts, (std::set<std::string>{"h1", "h2", "h3"}));
  // A fourth member has no host left; the reason names the members in the way.
  auto none = view.Choose(Make("i-3", 1, 1024, "z1", "ds-1"));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("on a host free of ds-1"), std::string::npos)
      << none.status();
  EXPECT_NE(none.status().message().find("host h1 has i-"), std::string::npos) << none.status();
  // Instances outside the set are not constrained.
  EXPECT_TRUE(view.Choose(Make("i-4", 1, 1024)).ok());
}

TEST_F(PlacementTest, DeploymentSetByRack) {
  AddSet("ds-r", "rack");
  AddNode("node-a", 8, 8192, "z1", "h1", "r1");
  AddNode("node-b", 8, 8192, "z1", "h2", "r1");
  AddNode("node-c", 8, 8192, "z1", "h3", "r2");
  AddBound(Make("i-0", 1, 1024, "z1", "ds-r"), "node-a");
  // node-b is another host but the same rack: only node-c fits.
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024, "z1", "ds-r")), "node-c");
  AddBound(Make("i-1", 1, 1024, "z1", "ds-r"), "node-c");
  auto none = Choose(Make("i-2", 1, 1024, "z1", "ds-r"));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("node-b rack r1 has i-0"), std::string::npos)
      << none.status();
}

TEST_F(PlacementTest, MemberOnAGoneNodeKeepsItsHostTaken) {
  AddSet("ds-1", "host");
  AddNode("node-b", 8, 8192);
  // i-0 is bound to node-a, whose record (on its lease) is gone; node-a is
  // its own host, so a node that comes back under that name is avoided.
  AddBound(Make("i-0", 1, 1024, "z1", "ds-1"), "node-a");
  EXPECT_EQ(*Choose(Make("i-1", 1, 1024, "z1", "ds-1")), "node-b");
  AddNode("node-a", 8, 8192);
  state_.nodes.erase("node-b");
  EXPECT_FALSE(Choose(Make("i-1", 1, 1024, "z1", "ds-1")).ok());
}

TEST_F(PlacementTest, OvercommitRatios) {
  AddNode("node-a", 2, 1024);
  EXPECT_EQ(NodeLimit(state_.nodes["node-a"].value, policy_).vcpus, 8u);
  EXPECT_EQ(NodeLimit(state_.nodes["node-a"].value, policy_).memory_mib, 1024u);
  EXPECT_TRUE(Choose(Make("i-1", 8, 1024)).ok());
  EXPECT_FALSE(Choose(Make("i-1", 9, 1024)).ok());
  EXPECT_FALSE(Choose(Make("i-1", 1, 1025)).ok());
  policy_ = {.cpu_overcommit = 1.0, .memory_overcommit = 1.5};
  EXPECT_FALSE(Choose(Make("i-1", 3, 512)).ok());
  EXPECT_TRUE(Choose(Make("i-1", 2, 1536)).ok());
  EXPECT_FALSE(Choose(Make("i-1", 2, 1537)).ok());
  // Below 1 keeps part of the node back.
  policy_ = {.cpu_overcommit = 0.5, .memory_overcommit = 0.5};
  EXPECT_TRUE(Choose(Make("i-1", 1, 512)).ok());
  EXPECT_FALSE(Choose(Make("i-1", 2, 512)).ok());
}

TEST_F(PlacementTest, CountsBoundInstancesTheAllocationDoesNotList) {
  policy_.cpu_overcommit = 1.0;
  AddNode("node-a", 4, 4096);
  Instance stray = Make("i-stray", 3, 1024);
  stray.host = "node-a";
  state_.instances[stray.id] = {stray, 1};
  EXPECT_FALSE(Choose(Make("i-1", 2, 1024)).ok());
  EXPECT_TRUE(Choose(Make("i-1", 1, 1024)).ok());
}

TEST_F(PlacementTest, NoFitReasonIsShortAndActionable) {
  policy_.cpu_overcommit = 1.0;
  for (int i = 0; i < 10; ++i) AddNode(fmt::format("node-{}", i), 4, 4096);
  AddBound(Make("i-0", 2, 1024), "node-0");
  auto none = Choose(Make("i-1", 64, 1024));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(),
            "no node in zone z1 has 64 vCPUs and 1024 MiB free (used/limit): node-0 2/4 vCPUs "
            "1024/4096 MiB, node-1 0/4 vCPUs 0/4096 MiB, node-2 0/4 vCPUs 0/4096 MiB, node-3 0/4 "
            "vCPUs 0/4096 MiB, and 6 more");
  // However long the names, the reason stays bounded.
  state_ = {};
  for (int i = 0; i < 3; ++i) AddNode(std::string(300, 'a' + i), 1, 1024);
  none = Choose(Make("i-1", 64, 1024));
  ASSERT_FALSE(none.ok());
  EXPECT_LE(none.status().message().size(), 480u);
  EXPECT_TRUE(none.status().message().ends_with("...")) << none.status();
}

}  // namespace
}  // namespace tg::compute
