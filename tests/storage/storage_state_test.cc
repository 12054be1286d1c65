// ParseStorageState: the whole storage prefix or the first record that does
// not decode, by key.
#include "storage/common/storage_state.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/json_record.h"
#include "storage/common/protocol.h"

namespace tg::storage {
namespace {

etcd::KeyValue Kv(std::string key, std::string value, int64_t revision = 1) {
  return {.key = std::move(key), .value = std::move(value), .mod_revision = revision};
}

ChunkInfo Chunk() {
  return {.chunk_id = MakeChunkId(7, 2),
          .version = 3,
          .replicas = {{"a", ReplicaState::kHealthy}, {"b", ReplicaState::kRecovering}}};
}

std::vector<etcd::KeyValue> GoodRecords() {
  VolumeInfo v{.name = "v", .number = 7, .size = kChunkSize, .state = VolumeState::kAvailable};
  RecoveryTask t{.chunk_id = Chunk().chunk_id, .version = 3, .sources = {"x:1"}, .done = false};
  return {Kv(ChunkserverKey("a"), Encode(ChunkserverInfo{.id = "a", .address = "x:1"})),
          Kv(VolumeKey("v"), Encode(v), 11),
          Kv(ChunkKey(Chunk().chunk_id), Encode(Chunk()), 12),
          Kv(TaskKey("b", t.chunk_id), Encode(t), 13),
          Kv(ReportKey(Chunk().chunk_id, "a"), "crc mismatch"),
          Kv(AttachKey("v"), "node1"),
          Kv(std::string(kNextVolumeKey), "8"),
          Kv(std::string(kStoragePrefix) + "a-kind-from-later/x", "anything")};
}

TEST(StorageRecords, NumbersThatWouldWrapAreRefused) {
  VolumeInfo v{.name = "vol", .number = 5, .size = 1 << 30, .state = VolumeState::kAvailable};
  ASSERT_TRUE(DecodeVolume(Encode(v)).ok());
  nlohmann::json j = nlohmann::json::parse(Encode(v));
  j["size"] = -1;  // read as is, a size of 2^64 - 1
  EXPECT_EQ(DecodeVolume(j.dump()).status().code(), ErrorCode::kInvalidArgument);
  j = nlohmann::json::parse(Encode(v));
  j["parents"] = {3, -4};
  EXPECT_EQ(DecodeVolume(j.dump()).status().code(), ErrorCode::kInvalidArgument);
  ChunkInfo c{.chunk_id = 7, .version = 2, .replicas = {{"cs-a", ReplicaState::kHealthy}}};
  ASSERT_TRUE(DecodeChunk(Encode(c)).ok());
  j = nlohmann::json::parse(Encode(c));
  j["version"] = uint64_t{1} << 32;  // a version past 32 bits would wrap to 0
  EXPECT_EQ(DecodeChunk(j.dump()).status().code(), ErrorCode::kInvalidArgument);
}

TEST(StorageState, EveryKindIsReadWithItsRevision) {
  auto st = ParseStorageState(GoodRecords(), 20);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->revision, 20);
  EXPECT_EQ(st->servers.at("a").address, "x:1");
  EXPECT_EQ(st->volumes.at("v").mod_revision, 11);
  const auto& chunk = st->chunks.at(Chunk().chunk_id);
  EXPECT_EQ(chunk.mod_revision, 12);
  EXPECT_EQ(chunk.record.replicas.at(1).state, ReplicaState::kRecovering);
  ASSERT_EQ(st->tasks.at(Chunk().chunk_id).size(), 1u);
  EXPECT_EQ(st->tasks.at(Chunk().chunk_id)[0].server, "b");
  ASSERT_EQ(st->reports.at(Chunk().chunk_id).size(), 1u);
  EXPECT_EQ(st->reports.at(Chunk().chunk_id)[0].server, "a");
  EXPECT_EQ(st->attached.at("v"), "node1");
}

TEST(StorageState, EncodersStampTheFormat) {
  for (const std::string& text :
       {Encode(Chunk()), Encode(VolumeInfo{}), Encode(RecoveryTask{}), Encode(ChunkserverInfo{})}) {
    EXPECT_EQ(nlohmann::json::parse(text).at("format"), kRecordFormat) << text;
  }
}

// One bad record fails the whole parse, naming its key.
void ExpectRefused(etcd::KeyValue bad, std::string_view why) {
  auto records = GoodRecords();
  records.push_back(bad);
  auto st = ParseStorageState(records);
  ASSERT_FALSE(st.ok()) << bad.key;
  EXPECT_NE(st.status().message().find(bad.key), std::string::npos) << st.status();
  EXPECT_NE(st.status().message().find(why), std::string::npos) << st.status();
}

TEST(StorageState, AnyRecordThatDoesNotDecodeFailsTheWhole) {
  nlohmann::json chunk = nlohmann::json::parse(Encode(Chunk()));
  chunk["replicas"][0]["state"] = "resting";
  ExpectRefused(Kv(ChunkKey(Chunk().chunk_id), chunk.dump()), "unknown replica state");
  chunk = nlohmann::json::parse(Encode(Chunk()));
  chunk["format"] = kRecordFormat + 1;
  ExpectRefused(Kv(ChunkKey(Chunk().chunk_id), chunk.dump()), "newer than this binary");
  ExpectRefused(Kv(VolumeKey("w"), "{\"name\": \"w\""), "not JSON");
  ExpectRefused(Kv(TaskKey("c", 1), Encode(RecoveryTask{.chunk_id = 1}).substr(3)), "not JSON");
  ExpectRefused(Kv(ChunkserverKey("d"), "{}"), "chunkserver record");
}

TEST(StorageState, ARecordUnderAnotherKeyIsRefused) {
  ExpectRefused(Kv(VolumeKey("w"), Encode(VolumeInfo{.name = "v"})), VolumeKey("v"));
  ExpectRefused(Kv(ChunkKey(MakeChunkId(9, 0)), Encode(Chunk())), ChunkKey(Chunk().chunk_id));
  ExpectRefused(Kv(std::string(kTasksPrefix) + "c", Encode(RecoveryTask{})), "names no chunk");
  ExpectRefused(Kv(std::string(kReportsPrefix) + "zz/a", "x"), "hexadecimal");
  ExpectRefused(Kv(std::string(kReportsPrefix) + "0000000000000001", "x"), "names no chunk");
}

}  // namespace
}  // namespace tg::storage
