// The VolumeStore against a real etcd, without a master: the test itself
// places chunks where the protocol waits for the master, so every record the
// store writes, and every refusal, can be checked exactly.
#include "storage/control/volume_store.h"

#include <gtest/gtest.h>

#include "storage/common/protocol.h"
#include "support/etcd_cluster.h"

namespace tg::testing {
namespace {

using namespace tg::storage;

constexpr uint64_t kMiB = 1 << 20;

class VolumeStoreTest : public ::testing::Test {
 public:  // for the coroutines the tests run
  VolumeStoreTest() : etcd_(io_, 1) {
    auto c = etcd::Client::Create(io_.get_executor(), {.endpoints = etcd_.urls()});
    if (!c.ok()) throw std::runtime_error(c.status().ToString());
    client_ = std::move(*c);
    // Short waits: nothing here has a master to wait for unless the test
    // plays one.
    store_ = std::make_unique<VolumeStore>(
        *client_, VolumeStoreOptions{.state_wait = std::chrono::seconds(1),
                                     .placement_wait = std::chrono::seconds(2),
                                     .poll_interval = std::chrono::milliseconds(20)});
  }

  Task<Result<VolumeInfo>> Stored(std::string name) {
    TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_->Get(VolumeKey(name)));
    if (got.kvs.empty()) co_return NotFound("no record for {}", name);
    co_return DecodeVolume(got.kvs[0].value);
  }
  Task<Status> Put(std::string key, std::string value) {
    co_return (co_await client_->Put(key, value)).status();
  }
  // What the master does when a volume is placed.
  Task<Status> MakeAvailable(std::string name) {
    TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, co_await Stored(name));
    v.state = VolumeState::kAvailable;
    co_return co_await Put(VolumeKey(name), Encode(v));
  }
  // The chunk records of `layer`, as the master places them.
  Task<Status> PlaceLayer(uint64_t layer, uint32_t chunks) {
    for (uint32_t i = 0; i < chunks; ++i) {
      ChunkInfo c{.chunk_id = MakeChunkId(layer, i), .version = 1, .replicas = {}};
      TG_CO_RETURN_IF_ERROR(co_await Put(ChunkKey(c.chunk_id), Encode(c)));
    }
    co_return Status::Ok();
  }
  // Plays the master for one snapshot: places the new top layer once the
  // volume names it.
  Task<void> PlaceNextLayer(std::string name) {
    for (int i = 0; i < 500; ++i) {
      auto v = co_await Stored(name);
      if (v.ok() && v->next_number) {
        EXPECT_OK(co_await PlaceLayer(v->next_number, v->chunk_count()));
        co_return;
      }
      co_await SleepFor(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the snapshot never asked for a layer";
  }

  asio::io_context io_;
  EtcdCluster etcd_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<VolumeStore> store_;
};

Task<Result<VolumeInfo>> CreateNoWait(VolumeStore& store, std::string name, uint64_t size) {
  CreateVolumeRequest request{.name = name, .size = size, .wait = false};
  co_return co_await store.Create(request);
}

TEST_F(VolumeStoreTest, CreateWritesARecordWithItsOwnLayer) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    auto a = co_await CreateNoWait(*t.store_, "a", 100 * kMiB);
    CO_ASSERT_OK(a.status());
    EXPECT_EQ(a->state, VolumeState::kCreating);
    EXPECT_EQ(a->size, 100 * kMiB);
    EXPECT_EQ(a->chunk_count(), 2u);
    auto b = co_await CreateNoWait(*t.store_, "b", 4096);
    CO_ASSERT_OK(b.status());
    EXPECT_NE(a->number, b->number);
    auto stored = co_await t.Stored("a");
    CO_ASSERT_OK(stored.status());
    EXPECT_EQ(stored->number, a->number);
    EXPECT_EQ(stored->size, a->size);
    EXPECT_FALSE(stored->snapshot);
  }(*this));
}

TEST_F(VolumeStoreTest, CreateWaitsForTheMaster) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    // No master: the wait ends, and says why.
    CreateVolumeRequest request{.name = "lonely", .size = 4096, .wait = true};
    auto r = co_await t.store_->Create(request);
    EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded) << r.status();
  }(*this));
}

TEST_F(VolumeStoreTest, CreateRefusesDuplicatesBadNamesAndSizes) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    CO_ASSERT_OK((co_await CreateNoWait(*t.store_, "vol", 4096)).status());
    auto again = co_await CreateNoWait(*t.store_, "vol", 8192);
    EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists) << again.status();
    auto stored = co_await t.Stored("vol");
    CO_ASSERT_OK(stored.status());
    EXPECT_EQ(stored->size, 4096u) << "the first record was overwritten";
    for (uint64_t size :
         {uint64_t{0}, uint64_t{1000}, uint64_t{4097}, (uint64_t{1} << 50) + 4096}) {
      auto bad = co_await CreateNoWait(*t.store_, "sized", size);
      EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument) << size;
    }
    EXPECT_OK((co_await CreateNoWait(*t.store_, "max", uint64_t{1} << 50)).status());
    for (const char* name : {"", "-x", ".x", "a/b", "a b"}) {
      auto bad = co_await CreateNoWait(*t.store_, name, 4096);
      EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument) << name;
    }
    auto none = co_await t.Stored("sized");
    EXPECT_EQ(none.status().code(), ErrorCode::kNotFound);
  }(*this));
}

Task<void> CreateInto(VolumeStore& store, std::string name, uint64_t size, Status& out) {
  out = (co_await CreateNoWait(store, name, size)).status();
}

TEST_F(VolumeStoreTest, ConcurrentCreatesOfOneNameMakeOneVolume) {
  // Each create on its own client, as separate CLI or API processes would.
  constexpr int kCreators = 6;
  std::vector<std::unique_ptr<etcd::Client>> clients;
  std::vector<std::unique_ptr<VolumeStore>> stores;
  std::vector<Status> results(kCreators);
  TaskGroup creators(io_.get_executor());
  for (int i = 0; i < kCreators; ++i) {
    auto c = etcd::Client::Create(io_.get_executor(), {.endpoints = etcd_.urls()});
    ASSERT_OK(c.status());
    clients.push_back(std::move(*c));
    stores.push_back(std::make_unique<VolumeStore>(*clients.back()));
    creators.Spawn("create", CreateInto(*stores.back(), "shared", 4096 * (i + 1), results[i]));
  }
  RunTask(io_, creators.Join());
  int made = 0;
  for (const Status& s : results) {
    if (s.ok()) {
      ++made;
    } else {
      EXPECT_EQ(s.code(), ErrorCode::kAlreadyExists) << s;
    }
  }
  EXPECT_EQ(made, 1);
  auto all = RunTask(io_, client_->Get(std::string(kVolumesPrefix), {.prefix = true}));
  ASSERT_OK(all.status());
  EXPECT_EQ(all->kvs.size(), 1u);
}

TEST_F(VolumeStoreTest, MissingVolumesAreNotFound) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    EXPECT_EQ((co_await t.store_->Snapshot("nope", "snap")).status().code(), ErrorCode::kNotFound);
    CloneVolumeRequest clone{.snapshot = "nope", .name = "c", .wait = false};
    EXPECT_EQ((co_await t.store_->Clone(clone)).status().code(), ErrorCode::kNotFound);
    EXPECT_EQ((co_await t.store_->Resize("nope", 8192)).status().code(), ErrorCode::kNotFound);
    DeleteVolumeRequest del{.name = "nope", .force = false, .wait = false};
    EXPECT_EQ((co_await t.store_->Delete(del)).code(), ErrorCode::kNotFound);
  }(*this));
}

TEST_F(VolumeStoreTest, SnapshotSwitchesLayersAndCloneStacksOnThem) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    auto v = co_await CreateNoWait(*t.store_, "vol", 128 * kMiB);
    CO_ASSERT_OK(v.status());
    // Not available yet: a snapshot must wait for the master.
    EXPECT_EQ((co_await t.store_->Snapshot("vol", "snap")).status().code(),
              ErrorCode::kUnavailable);
    CO_ASSERT_OK(co_await t.MakeAvailable("vol"));

    Result<VolumeInfo> snap = Internal("not run");
    auto take = [](VolumeStore& store, Result<VolumeInfo>& out) -> Task<void> {
      out = co_await store.Snapshot("vol", "snap");
    };
    RunBoth(t.io_, take(*t.store_, snap), t.PlaceNextLayer("vol"));
    CO_ASSERT_OK(snap.status());
    EXPECT_TRUE(snap->snapshot);
    EXPECT_EQ(snap->number, v->number) << "the snapshot keeps the old top layer";
    EXPECT_EQ(snap->size, v->size);
    auto moved = co_await t.Stored("vol");
    CO_ASSERT_OK(moved.status());
    EXPECT_NE(moved->number, v->number);
    EXPECT_EQ(moved->parents, std::vector<uint64_t>{v->number});
    EXPECT_EQ(moved->next_number, 0u);
    auto stored = co_await t.Stored("snap");
    CO_ASSERT_OK(stored.status());
    EXPECT_TRUE(stored->snapshot);
    EXPECT_EQ(stored->state, VolumeState::kAvailable);

    // Refusals: a snapshot of a snapshot, a name that is taken, a clone of a
    // volume, a clone into a taken name, a resize of a snapshot.
    EXPECT_EQ((co_await t.store_->Snapshot("snap", "x")).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((co_await t.store_->Snapshot("vol", "snap")).status().code(),
              ErrorCode::kAlreadyExists);
    CloneVolumeRequest of_volume{.snapshot = "vol", .name = "c", .wait = false};
    EXPECT_EQ((co_await t.store_->Clone(of_volume)).status().code(), ErrorCode::kInvalidArgument);
    CloneVolumeRequest into_taken{.snapshot = "snap", .name = "vol", .wait = false};
    EXPECT_EQ((co_await t.store_->Clone(into_taken)).status().code(), ErrorCode::kAlreadyExists);
    EXPECT_EQ((co_await t.store_->Resize("snap", 256 * kMiB)).status().code(),
              ErrorCode::kInvalidArgument);

    CloneVolumeRequest request{.snapshot = "snap", .name = "clone", .wait = false};
    auto clone = co_await t.store_->Clone(request);
    CO_ASSERT_OK(clone.status());
    EXPECT_FALSE(clone->snapshot);
    EXPECT_EQ(clone->state, VolumeState::kCreating);
    EXPECT_EQ(clone->size, v->size);
    EXPECT_EQ(clone->parents, std::vector<uint64_t>{v->number});
    EXPECT_NE(clone->number, moved->number);
    EXPECT_NE(clone->number, v->number);
  }(*this));
}

TEST_F(VolumeStoreTest, SnapshotFailsOnAChunkRecordItCannotRead) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    auto v = co_await CreateNoWait(*t.store_, "vol", 64 * kMiB);
    CO_ASSERT_OK(v.status());
    CO_ASSERT_OK(co_await t.MakeAvailable("vol"));
    // A chunk of the layer to freeze whose record does not decode: its
    // replicas cannot be made identical, and the snapshot must say so.
    CO_ASSERT_OK(co_await t.Put(ChunkKey(MakeChunkId(v->number, 0)), "{\"chunk_id\": "));
    Result<VolumeInfo> snap = Internal("not run");
    auto take = [](VolumeStore& store, Result<VolumeInfo>& out) -> Task<void> {
      out = co_await store.Snapshot("vol", "snap");
    };
    RunBoth(t.io_, take(*t.store_, snap), t.PlaceNextLayer("vol"));
    EXPECT_FALSE(snap.ok()) << "a chunk was skipped";
    EXPECT_NE(snap.status().message().find(ChunkKey(MakeChunkId(v->number, 0))), std::string::npos)
        << snap.status();
  }(*this));
}

TEST_F(VolumeStoreTest, ReadFailsOnARecordItCannotDecode) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    CO_ASSERT_OK((co_await CreateNoWait(*t.store_, "vol", 4096)).status());
    CO_ASSERT_OK((co_await t.store_->Read()).status());
    // A truncated record: shown as absent, it would look like a lost volume.
    CO_ASSERT_OK(co_await t.Put(VolumeKey("cut"), "{\"name\": \"cut\", \"si"));
    auto view = co_await t.store_->Read();
    EXPECT_FALSE(view.ok()) << "the read skipped a record";
    EXPECT_NE(view.status().message().find(VolumeKey("cut")), std::string::npos) << view.status();
  }(*this));
}

TEST_F(VolumeStoreTest, ResizeGrowsOnceChunksArePlaced) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    auto v = co_await CreateNoWait(*t.store_, "vol", 64 * kMiB);
    CO_ASSERT_OK(v.status());
    EXPECT_EQ((co_await t.store_->Resize("vol", 32 * kMiB)).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((co_await t.store_->Resize("vol", 1000)).status().code(),
              ErrorCode::kInvalidArgument);
    CO_ASSERT_OK(co_await t.PlaceLayer(v->number, 3));  // as the master will
    auto grown = co_await t.store_->Resize("vol", 192 * kMiB);
    CO_ASSERT_OK(grown.status());
    EXPECT_EQ(grown->size, 192 * kMiB);
    auto stored = co_await t.Stored("vol");
    CO_ASSERT_OK(stored.status());
    EXPECT_EQ(stored->size, 192 * kMiB);
    // Not placed: the record is changed, and the wait says what is missing.
    auto unplaced = co_await t.store_->Resize("vol", 256 * kMiB);
    EXPECT_EQ(unplaced.status().code(), ErrorCode::kDeadlineExceeded) << unplaced.status();
  }(*this));
}

TEST_F(VolumeStoreTest, DeleteRefusesAnAttachedVolumeUnlessForced) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    CO_ASSERT_OK((co_await CreateNoWait(*t.store_, "vol", 4096)).status());
    CO_ASSERT_OK(co_await t.Put(AttachKey("vol"), "node-a"));
    DeleteVolumeRequest request{.name = "vol", .force = false, .wait = false};
    Status refused = co_await t.store_->Delete(request);
    EXPECT_EQ(refused.code(), ErrorCode::kFailedPrecondition) << refused;
    EXPECT_NE(refused.message().find("node-a"), std::string::npos) << refused;
    auto kept = co_await t.Stored("vol");
    CO_ASSERT_OK(kept.status());
    EXPECT_EQ(kept->state, VolumeState::kCreating);
    request.force = true;
    CO_ASSERT_OK(co_await t.store_->Delete(request));
    auto deleting = co_await t.Stored("vol");
    CO_ASSERT_OK(deleting.status());
    EXPECT_EQ(deleting->state, VolumeState::kDeleting);
  }(*this));
}

TEST_F(VolumeStoreTest, ReadClassifiesChunkHealth) {
  RunTask(io_, [](VolumeStoreTest& t) -> Task<void> {
    for (const char* id : {"cs1", "cs2", "cs3"}) {
      ChunkserverInfo s{.id = id, .address = "127.0.0.1:1", .host = id};
      CO_ASSERT_OK(co_await t.Put(ChunkserverKey(id), Encode(s)));
    }
    auto v = co_await CreateNoWait(*t.store_, "vol", 4 * 64 * kMiB);
    CO_ASSERT_OK(v.status());
    auto other = co_await CreateNoWait(*t.store_, "other", 64 * kMiB);
    CO_ASSERT_OK(other.status());
    const auto healthy = ReplicaState::kHealthy;
    const auto recovering = ReplicaState::kRecovering;
    const std::vector<std::vector<Replica>> replica_sets = {
        {{"cs1", healthy}, {"cs2", healthy}, {"cs3", healthy}},     // healthy
        {{"cs1", healthy}, {"cs2", healthy}, {"cs3", recovering}},  // recovering
        {{"cs1", healthy}, {"cs2", healthy}, {"gone", healthy}},    // degraded: a dead server
        {{"cs1", healthy}, {"gone", recovering}},                   // degraded: its target is dead
    };
    for (uint32_t i = 0; i < replica_sets.size(); ++i) {
      ChunkInfo c{.chunk_id = MakeChunkId(v->number, i), .version = 1, .replicas = replica_sets[i]};
      CO_ASSERT_OK(co_await t.Put(ChunkKey(c.chunk_id), Encode(c)));
    }
    ChunkInfo c{
        .chunk_id = MakeChunkId(other->number, 0), .version = 1, .replicas = replica_sets[0]};
    CO_ASSERT_OK(co_await t.Put(ChunkKey(c.chunk_id), Encode(c)));
    CO_ASSERT_OK(co_await t.Put(AttachKey("vol"), "node-a"));
    RecoveryTask task{.chunk_id = MakeChunkId(v->number, 1), .version = 1, .sources = {}};
    CO_ASSERT_OK(co_await t.Put(TaskKey("cs3", task.chunk_id), Encode(task)));

    auto view = co_await t.store_->Read();
    CO_ASSERT_OK(view.status());
    EXPECT_EQ(view->servers.size(), 3u);
    EXPECT_EQ(view->volumes.size(), 2u);
    EXPECT_EQ(view->attached.at("vol"), "node-a");
    EXPECT_EQ(PendingRecoveries(*view), 1u);
    EXPECT_GT(view->revision, 0);
    const HealthCount of_vol = CountHealth(*view, v->number);
    EXPECT_EQ(of_vol.healthy, 1u);
    EXPECT_EQ(of_vol.recovering, 1u);
    EXPECT_EQ(of_vol.degraded, 2u);
    const HealthCount all = CountHealth(*view);
    EXPECT_EQ(all.healthy, 2u);
    EXPECT_EQ(all.total(), 5u);
    EXPECT_EQ(HealthOf(view->chunks.at(MakeChunkId(v->number, 2)).record, view->servers),
              ChunkHealth::kDegraded);
  }(*this));
}

}  // namespace
}  // namespace tg::testing
