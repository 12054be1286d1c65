// The chunk store on the operating system's files (PosixEnv, io_uring): the
// write paths (journaled, partial, large and direct), reads, a reopen that
// brings everything back, and the scrubber, without the data port in between.
#include "storage/chunkserver/chunk_store.h"

#include <gtest/gtest.h>

#include "storage/common/protocol.h"
#include "support/pattern.h"
#include "support/test_util.h"

namespace tg::storage {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  return testing::PatternBytes(n, seed);
}

Task<void> WritesReadBackAfterAReopen(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  const uint64_t chunk = MakeChunkId(3, 1);
  const auto small = Bytes(8192, 1), partial = Bytes(1000, 2), large = Bytes(1 << 20, 3);
  auto want = small;
  std::copy(partial.begin(), partial.end(), want.begin() + 4000);
  std::string server_id;
  {
    auto store = co_await ChunkStore::Open(ex, dir);
    CO_ASSERT_OK(store.status());
    server_id = (*store)->server_id();
    CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 0, small));
    CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 4000, partial));
    CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 4 << 20, large));  // direct
    std::vector<uint8_t> back(8192);
    CO_ASSERT_OK(co_await (*store)->Read(chunk, {1, 0}, 0, back));
    EXPECT_EQ(back, want);
    co_await (*store)->Close();
  }
  auto store = co_await ChunkStore::Open(ex, dir);
  CO_ASSERT_OK(store.status());
  EXPECT_EQ((*store)->server_id(), server_id);
  EXPECT_EQ((*store)->EpochOf(3), 1u);
  std::vector<uint8_t> back(8192), large_back(1 << 20);
  CO_ASSERT_OK(co_await (*store)->Read(chunk, {1, 0}, 0, back));
  EXPECT_EQ(back, want);
  CO_ASSERT_OK(co_await (*store)->Read(chunk, {1, 0}, 4 << 20, large_back));
  EXPECT_EQ(large_back, large);
  EXPECT_TRUE((co_await (*store)->Scrub()).empty());
  const StoreUsage usage = (*store)->Usage();
  EXPECT_GT(usage.capacity_bytes, 0u);
  EXPECT_EQ(usage.chunks, 1u);
  co_await (*store)->Close();
}

TEST(ChunkStore, OnRealFilesWritesReadBackAfterAReopen) {
  testing::TempDir dir;
  asio::io_context io;
  testing::RunTask(io, WritesReadBackAfterAReopen(dir.path()));
}

}  // namespace
}  // namespace tg::storage
