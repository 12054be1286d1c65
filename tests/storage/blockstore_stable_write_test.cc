// A guest that keeps changing the buffer of a write while it is in flight
// (what a vhost-user-blk guest can do to the memory it handed over) must not
// make the replicas differ: the volume copies the data once and sends every
// replica that copy. Real processes: etcd, a storage master, three
// chunkservers; the volume client and the "guest" (a thread) in this process.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "storage/client/distributed_volume.h"
#include "storage/common/chunk_client.h"
#include "storage/common/crc32c.h"
#include "storage/common/protocol.h"
#include "storage_cluster.h"

namespace tg::testing {
namespace {

using namespace tg::storage;

// Large writes, the buffer changing all the time: it changes while a
// request's CRC is computed and its payload copied.
constexpr size_t kLargeWrite = 2 << 20;  // two 1 MiB requests per replica
constexpr int kLargeWrites = 8;
// Small writes, each to a block of its own after the large ones, the buffer
// changing now and then: mostly between the sends to two replicas.
constexpr size_t kSmallWrite = 4096;
constexpr int kSmallWrites = 64;
constexpr size_t kWritten = kLargeWrite + kSmallWrites * kSmallWrite;

// Rewrites `buffer` word by word, a new generation per pass, `pause` between
// passes, until stopped: a vCPU scribbling over memory it gave the device.
class Scribbler {
 public:
  Scribbler(std::span<uint8_t> buffer, Duration pause)
      : words_(reinterpret_cast<uint64_t*>(buffer.data()), buffer.size() / sizeof(uint64_t)),
        pause_(pause),
        thread_([this] { Run(); }) {}
  ~Scribbler() {
    stop_.store(true);
    thread_.join();
  }
  uint64_t passes() const { return passes_.load(); }

 private:
  void Run() {
    for (uint64_t generation = 1; !stop_.load(std::memory_order_relaxed); ++generation) {
      for (size_t i = 0; i < words_.size(); ++i) {
        std::atomic_ref<uint64_t>(words_[i]).store(generation << 32 | i, std::memory_order_relaxed);
      }
      passes_.store(generation);
      if (pause_ > Duration::zero()) std::this_thread::sleep_for(pause_);
    }
  }

  std::span<uint64_t> words_;
  Duration pause_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> passes_{0};
  std::thread thread_;
};

// Chunk 0's replicas, read one by one straight from their chunkservers.
Task<Result<std::vector<std::vector<uint8_t>>>> ReadEachReplica(StorageCluster& c, size_t length) {
  Executor ex = co_await asio::this_coro::executor;
  auto vol = co_await c.client().Get(VolumeKey("vol"));
  TG_CO_RETURN_IF_ERROR(vol.status());
  if (vol->kvs.empty()) co_return NotFound("no volume record");
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo info, DecodeVolume(vol->kvs[0].value));
  const uint64_t chunk_id = MakeChunkId(info.number, 0);
  auto rec = co_await c.client().Get(ChunkKey(chunk_id));
  TG_CO_RETURN_IF_ERROR(rec.status());
  if (rec->kvs.empty()) co_return NotFound("no chunk record");
  TG_CO_ASSIGN_OR_RETURN(ChunkInfo chunk, DecodeChunk(rec->kvs[0].value));
  std::vector<std::vector<uint8_t>> copies;
  for (const auto& r : chunk.replicas) {
    auto server = co_await c.client().Get(ChunkserverKey(r.server));
    TG_CO_RETURN_IF_ERROR(server.status());
    if (server->kvs.empty()) co_return NotFound("chunkserver {} is not registered", r.server);
    TG_CO_ASSIGN_OR_RETURN(ChunkserverInfo s, DecodeChunkserver(server->kvs[0].value));
    TG_CO_ASSIGN_OR_RETURN(auto client, co_await ChunkClient::Connect(ex, s.address));
    std::vector<uint8_t> data(length);
    // Reads check the stored block checksums: a copy whose CRC disagrees fails here.
    Status read = co_await client->Read(chunk_id, {info.epoch, chunk.version}, 0, data);
    co_await client->Close();
    TG_CO_RETURN_IF_ERROR(read);
    copies.push_back(std::move(data));
  }
  co_return copies;
}

Task<void> ScribbledWrites(StorageCluster& c) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  // A replica that refused a write would be replaced by the master: do not
  // wait long for that, the write has failed the test already.
  DistributedVolumeOptions o{.volume = "vol", .holder = "node-a", .replica_wait_seconds = 5};
  auto v = co_await OpenDistributedVolume(c.client(), o);
  CO_ASSERT_OK(v.status());
  // Not vacuous: the buffer did change under in-flight writes.
  size_t large_scribbled = 0, small_scribbled = 0;
  std::vector<uint8_t> large(kLargeWrite);
  {
    Scribbler guest(large, Duration::zero());
    for (int i = 0; i < kLargeWrites; ++i) {
      const uint64_t before = guest.passes();
      EXPECT_OK(co_await (*v)->Write(0, large));
      if (guest.passes() > before) ++large_scribbled;
    }
  }
  EXPECT_GT(large_scribbled, 0u);
  std::vector<uint8_t> small(kSmallWrite);
  {
    Scribbler guest(small, 50us);
    for (int i = 0; i < kSmallWrites; ++i) {
      const uint64_t before = guest.passes();
      EXPECT_OK(co_await (*v)->Write(kLargeWrite + i * kSmallWrite, small));
      if (guest.passes() > before) ++small_scribbled;
    }
  }
  EXPECT_GT(small_scribbled, 0u);
  co_await (*v)->Close();

  auto copies = co_await ReadEachReplica(c, kWritten);
  CO_ASSERT_OK(copies.status());
  CO_ASSERT_EQ(copies->size(), 3u);
  for (size_t r = 1; r < copies->size(); ++r) {
    const auto& a = (*copies)[0];
    const auto& b = (*copies)[r];
    const auto at = std::mismatch(a.begin(), a.end(), b.begin()).first - a.begin();
    EXPECT_EQ(at, static_cast<ptrdiff_t>(a.size()))
        << "replica " << r << " differs from replica 0 in block " << at / kBlockSize;
  }
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
}

TEST(StableWrites, AGuestChangingAnInFlightBufferCannotMakeReplicasDiffer) {
  asio::io_context io;
  StorageCluster c(io, 1, 3);
  ASSERT_OK(c.CreateVolume("vol", "64M"));
  RunTask(io, ScribbledWrites(c));
}

}  // namespace
}  // namespace tg::testing
