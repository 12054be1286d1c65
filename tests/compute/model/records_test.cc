// The compute records' JSON: every record round-trips with every field, and
// decoding is strict (truncated text, an unknown status, a newer format, a
// number out of range or of the wrong type, a missing field: refused,
// naming what).
#include "compute/model/records.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/json_record.h"
#include "support/test_util.h"

namespace tg::compute {
namespace {

using nlohmann::json;

// Every field away from its default, so that a field the decoder dropped
// shows in the re-encoded text.
Instance FullInstance() {
  Instance v;
  v.id = "i-abc";
  v.name = "web-1";
  v.hostname = "web1";
  v.description = "the web server";
  v.type = "ecs.t6-c1m1.small";
  v.resources = {1, 512};
  v.image = "m-img";
  v.zone = "zone-a";
  v.disks = {{"d-sys", "vol-sys", 1 << 30, true, true}, {"d-data", "vol-data", 4096, false, false}};
  v.nics = {{"eni-a"}, {"eni-b"}};
  v.key_pair = "my-key";
  v.user_data = "I2Nsb3VkLWNvbmZpZw==";
  v.deployment_set = "ds-x";
  v.tags = {{"team", "web"}, {"env", "prod"}};
  v.created_at = 1700000000;
  v.desired = PowerState::kStopped;
  v.force_stop = true;
  v.reboot_requests = 3;
  v.deleting = true;
  v.host = "node-1";
  v.status = InstanceStatus::kStopping;
  v.status_reason = "stopping";
  v.status_changed_at = 1700000000123;
  v.reboots_done = 2;
  return v;
}

Image FullImage() {
  return {"m-img",           "debian-12",       "Debian 12",
          "linux",           "Debian",          "Debian 12 64-bit",
          "arm64",           uint64_t{2} << 30, ImageStatus::kCreateFailed,
          "qemu-img failed", "img-vol@snap",    1700000001};
}

TEST(RecordsTest, KeysAreThePrefixAndTheName) {
  EXPECT_EQ(InstanceKey("i-a"), "/tiangong/compute/instances/i-a");
  EXPECT_EQ(TypeKey("ecs.lab.tiny"), "/tiangong/compute/types/ecs.lab.tiny");
  EXPECT_EQ(ImageKey("m-a"), "/tiangong/compute/images/m-a");
  EXPECT_EQ(KeyPairKey("k"), "/tiangong/compute/keypairs/k");
  EXPECT_EQ(DeploymentSetKey("ds-a"), "/tiangong/compute/deployment-sets/ds-a");
  EXPECT_EQ(NodeKey("n1"), "/tiangong/compute/nodes/n1");
  EXPECT_EQ(AllocationKey("n1"), "/tiangong/compute/allocations/n1");
}

TEST(RecordsTest, EveryRecordRoundTrips) {
  const Instance inst = FullInstance();
  Result<Instance> i = DecodeInstance(EncodeInstance(inst));
  ASSERT_OK(i.status());
  EXPECT_EQ(EncodeInstance(*i), EncodeInstance(inst));
  EXPECT_EQ(i->disks[1].size, 4096u);
  EXPECT_FALSE(i->disks[1].delete_with_instance);
  EXPECT_EQ(i->tags.at("env"), "prod");
  EXPECT_EQ(i->status, InstanceStatus::kStopping);
  EXPECT_EQ(i->status_changed_at, 1700000000123);

  const Image img = FullImage();
  Result<Image> m = DecodeImage(EncodeImage(img));
  ASSERT_OK(m.status());
  EXPECT_EQ(EncodeImage(*m), EncodeImage(img));
  EXPECT_EQ(m->status, ImageStatus::kCreateFailed);

  const InstanceType type{"ecs.lab.tiny", "ecs.lab", 3, 384, false};
  Result<InstanceType> t = DecodeInstanceType(EncodeInstanceType(type));
  ASSERT_OK(t.status());
  EXPECT_EQ(EncodeInstanceType(*t), EncodeInstanceType(type));
  EXPECT_FALSE(t->builtin);

  const KeyPair kp{"my-key", "ssh-ed25519 AAAA x", "aa:bb", 1700000002};
  Result<KeyPair> k = DecodeKeyPair(EncodeKeyPair(kp));
  ASSERT_OK(k.status());
  EXPECT_EQ(EncodeKeyPair(*k), EncodeKeyPair(kp));

  const DeploymentSet ds{"ds-x", "spread", "rack", 1700000003};
  Result<DeploymentSet> d = DecodeDeploymentSet(EncodeDeploymentSet(ds));
  ASSERT_OK(d.status());
  EXPECT_EQ(EncodeDeploymentSet(*d), EncodeDeploymentSet(ds));

  const ComputeNode node{"n1", {8, 16384}, "zone-a", "pod-1", "rack-2", "machine-3", false};
  Result<ComputeNode> n = DecodeComputeNode(EncodeComputeNode(node));
  ASSERT_OK(n.status());
  EXPECT_EQ(EncodeComputeNode(*n), EncodeComputeNode(node));
  EXPECT_FALSE(n->schedulable);

  NodeAllocation alloc{.node = "n1"};
  alloc.instances["i-a"] = {2, 2048};
  alloc.instances["i-b"] = {1, 512};
  Result<NodeAllocation> a = DecodeNodeAllocation(EncodeNodeAllocation(alloc));
  ASSERT_OK(a.status());
  EXPECT_EQ(EncodeNodeAllocation(*a), EncodeNodeAllocation(alloc));
  EXPECT_EQ(a->Used().vcpus, 3u);
}

TEST(RecordsTest, EncodedRecordsCarryTheFormat) {
  EXPECT_EQ(json::parse(EncodeInstance(FullInstance())).at("format"), kRecordFormat);
  EXPECT_EQ(json::parse(EncodeComputeNode({})).at("format"), kRecordFormat);
}

// The instance record with one change to its JSON.
std::string Changed(const std::function<void(json&)>& change) {
  json j = json::parse(EncodeInstance(FullInstance()));
  change(j);
  return j.dump();
}

// Decoding fails with InvalidArgument whose message names `what`.
void ExpectRefused(const std::string& text, std::string_view what) {
  Result<Instance> r = DecodeInstance(text);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status();
}

TEST(RecordsTest, DecodingIsStrict) {
  const std::string good = EncodeInstance(FullInstance());
  ExpectRefused(good.substr(0, good.size() / 2), "not JSON");
  ExpectRefused("[]", "not JSON");
  ExpectRefused(Changed([](json& j) { j["status"] = "Exploded"; }), "Exploded");
  ExpectRefused(Changed([](json& j) { j["desired"] = "running"; }), "running");
  ExpectRefused(Changed([](json& j) { j.erase("id"); }), "id is missing");
  ExpectRefused(Changed([](json& j) { j["id"] = 7; }), "id is not a string");
  ExpectRefused(Changed([](json& j) { j["deleting"] = 1; }), "deleting is not a boolean");
  ExpectRefused(Changed([](json& j) { j["resources"]["vcpus"] = int64_t{1} << 32; }),
                "resources.vcpus");
  ExpectRefused(Changed([](json& j) { j["resources"]["memory_mib"] = -1; }),
                "resources.memory_mib");
  ExpectRefused(Changed([](json& j) { j["disks"][1]["size"] = -4096; }), "disks[1].size");
  ExpectRefused(Changed([](json& j) { j["disks"][0].erase("volume"); }), "disks[0].volume");
  ExpectRefused(Changed([](json& j) { j["disks"] = "d-sys"; }), "disks is not a list");
  ExpectRefused(Changed([](json& j) { j.erase("nics"); }), "nics is missing");
  ExpectRefused(Changed([](json& j) { j["nics"][0] = "eni-a"; }), "nics[0] is not an object");
  ExpectRefused(Changed([](json& j) { j["tags"]["env"] = 1; }), "tags.env");
  ExpectRefused(Changed([](json& j) { j["created_at"] = -5; }), "created_at");
  ExpectRefused(Changed([](json& j) { j["reboot_requests"] = 1.5; }), "not an integer");

  // A newer format is refused as such, not read as this one.
  Result<Instance> future = DecodeInstance(Changed([](json& j) { j["format"] = 99; }));
  EXPECT_EQ(future.status().code(), ErrorCode::kFailedPrecondition);

  EXPECT_EQ(DecodeImage(R"({"id":"m-a"})").status().code(), ErrorCode::kInvalidArgument);
  json img = json::parse(EncodeImage(FullImage()));
  img["size"] = -1;
  EXPECT_NE(DecodeImage(img.dump()).status().message().find("size"), std::string::npos);
  img = json::parse(EncodeImage(FullImage()));
  img["status"] = "Deprecated";
  EXPECT_EQ(DecodeImage(img.dump()).status().code(), ErrorCode::kInvalidArgument);

  json type = json::parse(EncodeInstanceType({"ecs.lab.tiny", "ecs.lab", 1, 128, false}));
  type["memory_mib"] = 100;  // not a multiple of 128 MiB
  EXPECT_EQ(DecodeInstanceType(type.dump()).status().code(), ErrorCode::kInvalidArgument);

  json ds = json::parse(EncodeDeploymentSet({"ds-x", "", "host", 1}));
  ds["domain"] = "planet";
  EXPECT_EQ(DecodeDeploymentSet(ds.dump()).status().code(), ErrorCode::kInvalidArgument);

  NodeAllocation alloc{.node = "n1"};
  alloc.instances["i-a"] = {2, 2048};
  json a = json::parse(EncodeNodeAllocation(alloc));
  a["instances"]["i-a"]["vcpus"] = -2;
  EXPECT_NE(DecodeNodeAllocation(a.dump()).status().message().find("instances.i-a.vcpus"),
            std::string::npos);
}

TEST(RecordsTest, OptionalTextMayBeMissingAndAMissingFormatIsOne) {
  json j = json::parse(EncodeInstance(FullInstance()));
  for (const char* k : {"format", "name", "hostname", "description", "key_pair", "user_data",
                        "deployment_set", "tags", "host", "status_reason"}) {
    j.erase(k);
  }
  Result<Instance> i = DecodeInstance(j.dump());
  ASSERT_OK(i.status());
  EXPECT_EQ(i->host, "");
  EXPECT_TRUE(i->tags.empty());
}

TEST(RecordsTest, TextThatIsNotUtf8IsEncodedNotThrown) {
  Instance v = FullInstance();
  v.description = "bad \xff text";
  EXPECT_OK(DecodeInstance(EncodeInstance(v)).status());
}

}  // namespace
}  // namespace tg::compute
