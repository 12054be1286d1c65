// The storage master against a real etcd, with a record it cannot read: the
// pass reports it and changes nothing. Above all it frees no layer: the
// chunks of a volume whose record did not decode must not look unreferenced.
// The chunkservers are a listener that counts connections (the master
// connects to one only to delete a chunk).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/json_record.h"
#include "etcd/election.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"
#include "storage/master/master.h"
#include "support/etcd_fixture.h"

namespace tg::storage {
namespace {

using testing::RunTask;

constexpr uint64_t kLayer = 5;

// Accepts and closes every connection, counting them.
Task<void> CountingChunkserver(asio::ip::tcp::acceptor& acceptor, int& connections) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    ++connections;
  }
}

class MasterDecodeTest : public testing::EtcdFixture {
 protected:
  void SetUp() override {
    EtcdFixture::SetUp();
    if (HasFatalFailure()) return;
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    background_.Spawn("chunkserver", CountingChunkserver(acceptor_, connections_));
    mirror_ = std::make_unique<etcd::Mirror>(*client_, std::string(kStoragePrefix));
    background_.Spawn("mirror", mirror_->Run());
    election_ = std::make_unique<etcd::Election>(*client_, "master-decode-test", "m", 10s);
    ASSERT_OK(RunTask(io_, election_->Campaign()));
    master_ = std::make_unique<Master>(*client_, *mirror_, election_->OwnerCompare());
    ASSERT_OK(RunTask(io_, PutCluster()));
  }
  void TearDown() override {
    master_.reset();
    RunTask(io_, [&]() -> Task<void> {
      if (election_) (void)co_await election_->Resign();
      acceptor_.close();
      background_.CancelAll();
      co_await background_.Join();
    }());
    election_.reset();
    mirror_.reset();
    EtcdFixture::TearDown();
  }

  Task<Status> Put(std::string key, std::string value) {
    TG_CO_ASSIGN_OR_RETURN(auto put, co_await client_->Put(std::move(key), std::move(value)));
    last_put_ = put.revision;
    co_return Status::Ok();
  }

  // Three chunkservers on distinct hosts and one chunk of layer kLayer on them.
  Task<Status> PutCluster() {
    const std::string address = fmt::format("127.0.0.1:{}", acceptor_.local_endpoint().port());
    ChunkInfo chunk{.chunk_id = MakeChunkId(kLayer, 0), .version = 1, .replicas = {}};
    for (int i = 0; i < 3; ++i) {
      ChunkserverInfo s{
          .id = fmt::format("cs{}", i), .address = address, .host = fmt::format("h{}", i)};
      TG_CO_RETURN_IF_ERROR(co_await Put(ChunkserverKey(s.id), Encode(s)));
      chunk.replicas.push_back({s.id, ReplicaState::kHealthy});
    }
    co_return co_await Put(ChunkKey(chunk.chunk_id), Encode(chunk));
  }

  static VolumeInfo Volume() {
    return {.name = "vol", .number = kLayer, .size = kChunkSize, .state = VolumeState::kAvailable};
  }

  // One pass once the master's copy holds every record put.
  Status Pass() {
    return RunTask(io_, [&]() -> Task<Status> {
      if (!co_await mirror_->WaitFor(last_put_, 10s)) co_return DeadlineExceeded("mirror behind");
      co_return co_await master_->ReconcileOnce();
    }());
  }

  Result<etcd::GetResult> Read(const std::string& key) { return RunTask(io_, client_->Get(key)); }

  // The record as it was put, and the chunk of its layer, both untouched, and
  // no chunkserver asked to delete anything.
  void ExpectNothingChanged(int64_t volume_revision) {
    auto volume = Read(VolumeKey("vol"));
    ASSERT_TRUE(volume.ok() && volume->kvs.size() == 1u);
    EXPECT_EQ(volume->kvs[0].mod_revision, volume_revision);
    auto chunk = Read(ChunkKey(MakeChunkId(kLayer, 0)));
    ASSERT_TRUE(chunk.ok());
    EXPECT_EQ(chunk->kvs.size(), 1u) << "the layer of an unreadable volume was freed";
    EXPECT_EQ(connections_, 0) << "the master deleted chunk data";
  }

  void ExpectPassRefuses(const std::string& volume_value, std::string_view why) {
    ASSERT_OK(RunTask(io_, Put(VolumeKey("vol"), volume_value)));
    const int64_t revision = last_put_;
    Status s = Pass();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(VolumeKey("vol")), std::string::npos) << s;
    EXPECT_NE(s.message().find(why), std::string::npos) << s;
    ExpectNothingChanged(revision);
  }

  asio::ip::tcp::acceptor acceptor_{io_};
  int connections_ = 0;
  TaskGroup background_{io_.get_executor()};
  std::unique_ptr<etcd::Mirror> mirror_;
  std::unique_ptr<etcd::Election> election_;
  std::unique_ptr<Master> master_;
  int64_t last_put_ = 0;
};

TEST_F(MasterDecodeTest, ATruncatedVolumeRecordFreesNoLayer) {
  const std::string good = Encode(Volume());
  ExpectPassRefuses(good.substr(0, good.size() / 2), "not JSON");
}

// A newer binary's record (here: one that names its layers differently) is
// refused, not read as this binary's format.
TEST_F(MasterDecodeTest, AFutureFormatVolumeRecordFreesNoLayer) {
  nlohmann::json newer = nlohmann::json::parse(Encode(Volume()));
  newer["format"] = kRecordFormat + 1;
  newer["layers"] = {kLayer};
  newer.erase("number");
  ExpectPassRefuses(newer.dump(), "newer than this binary reads");
}

// An unknown state is an error, not "creating" (which the master would
// turn into "available").
TEST_F(MasterDecodeTest, AnUnknownVolumeStateIsAnError) {
  nlohmann::json odd = nlohmann::json::parse(Encode(Volume()));
  odd["state"] = "archived";
  ExpectPassRefuses(odd.dump(), "unknown volume state");
}

// The other side: once the record reads again, the pass runs; once no record
// names the layer, its chunk goes (so the checks above can see a deletion).
TEST_F(MasterDecodeTest, AReadableStateIsReconciledAndAnUnnamedLayerFreed) {
  ASSERT_OK(RunTask(io_, Put(VolumeKey("vol"), "{")));
  EXPECT_FALSE(Pass().ok());
  ASSERT_OK(RunTask(io_, Put(VolumeKey("vol"), Encode(Volume()))));
  EXPECT_OK(Pass());
  ExpectNothingChanged(last_put_);

  auto del = RunTask(io_, client_->Delete(VolumeKey("vol")));
  ASSERT_TRUE(del.ok());
  last_put_ = del->revision;
  EXPECT_OK(Pass());
  auto chunk = Read(ChunkKey(MakeChunkId(kLayer, 0)));
  ASSERT_TRUE(chunk.ok());
  EXPECT_TRUE(chunk->kvs.empty());
  EXPECT_GE(connections_, 1);
}

}  // namespace
}  // namespace tg::storage
