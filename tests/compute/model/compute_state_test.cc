// Parsing the compute records into one state: all or nothing. A record that
// does not decode, or sits under a key that is not its own, fails the parse
// naming the key; keys of kinds this binary does not know are left alone.
#include "compute/model/compute_state.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace tg::compute {
namespace {

struct Record {
  std::string key, value;
  int64_t mod_revision = 1;
};

std::vector<Record> GoodRecords() {
  Instance inst;
  inst.id = "i-a";
  inst.type = "ecs.t6-c1m1.small";
  inst.resources = {1, 512};
  inst.image = "m-a";
  inst.zone = "z1";
  NodeAllocation alloc{.node = "n1"};
  alloc.instances["i-a"] = {1, 512};
  return {
      {TypeKey("ecs.lab.tiny"), EncodeInstanceType({"ecs.lab.tiny", "ecs.lab", 1, 128, false}), 2},
      {ImageKey("m-a"), EncodeImage({.id = "m-a", .name = "deb", .snapshot = "v@s"}), 3},
      {KeyPairKey("k1"), EncodeKeyPair({"k1", "ssh-ed25519 AAAA", "aa", 1}), 4},
      {InstanceKey("i-a"), EncodeInstance(inst), 5},
      {DeploymentSetKey("ds-a"), EncodeDeploymentSet({"ds-a", "", "host", 1}), 6},
      {NodeKey("n1"), EncodeComputeNode({.name = "n1", .capacity = {4, 8192}, .host = "n1"}), 7},
      {AllocationKey("n1"), EncodeNodeAllocation(alloc), 8},
  };
}

TEST(ComputeStateTest, ParsesEveryKindWithItsRevision) {
  Result<ComputeState> st = ParseComputeState(GoodRecords(), 42);
  ASSERT_OK(st.status());
  EXPECT_EQ(st->revision, 42);
  EXPECT_EQ(st->types.at("ecs.lab.tiny").revision, 2);
  EXPECT_EQ(st->images.at("m-a").value.snapshot, "v@s");
  EXPECT_EQ(st->key_pairs.count("k1"), 1u);
  EXPECT_EQ(st->instances.at("i-a").revision, 5);
  EXPECT_EQ(st->deployment_sets.count("ds-a"), 1u);
  EXPECT_EQ(st->nodes.at("n1").value.capacity.vcpus, 4u);
  EXPECT_EQ(st->allocations.at("n1").value.Used().memory_mib, 512u);
  ASSERT_EQ(st->OperatorTypes().size(), 1u);
  EXPECT_EQ(st->OperatorTypes()[0].name, "ecs.lab.tiny");
}

TEST(ComputeStateTest, ParsesAMapOfKeyValuesToo) {
  std::map<std::string, Record> by_key;
  for (const Record& r : GoodRecords()) by_key[r.key] = r;
  Result<ComputeState> st = ParseComputeState(by_key, 7);
  ASSERT_OK(st.status());
  EXPECT_EQ(st->instances.size(), 1u);
  EXPECT_EQ(st->nodes.size(), 1u);
}

TEST(ComputeStateTest, UnknownKeysAreIgnored) {
  std::vector<Record> records = GoodRecords();
  records.push_back({"/tiangong/compute/quotas/user-1", "not json at all"});
  records.push_back({"/tiangong/compute/", "x"});
  Result<ComputeState> st = ParseComputeState(records, 1);
  ASSERT_OK(st.status());
  EXPECT_EQ(st->instances.size(), 1u);
}

// The parse fails, and its message names `key`.
void ExpectFailsNaming(std::vector<Record> records, const std::string& key, ErrorCode code) {
  Result<ComputeState> st = ParseComputeState(records, 1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), code) << st.status();
  EXPECT_NE(st.status().message().find(key), std::string::npos) << st.status();
}

TEST(ComputeStateTest, AnUnreadableRecordFailsTheWholeParse) {
  std::vector<Record> records = GoodRecords();
  records[3].value = records[3].value.substr(0, 20);  // the instance, truncated
  ExpectFailsNaming(records, InstanceKey("i-a"), ErrorCode::kInvalidArgument);

  records = GoodRecords();
  records[6].value = R"({"format":2,"node":"n1","instances":{}})";
  ExpectFailsNaming(records, AllocationKey("n1"), ErrorCode::kFailedPrecondition);
}

TEST(ComputeStateTest, ARecordUnderAnotherKeyFailsTheParse) {
  for (size_t i = 0; i < GoodRecords().size(); ++i) {
    std::vector<Record> records = GoodRecords();
    const std::string prefix = records[i].key.substr(0, records[i].key.rfind('/') + 1);
    records[i].key = prefix + "someone-else";
    ExpectFailsNaming(records, prefix + "someone-else", ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace tg::compute
