// The chunkserver's write-ahead journal: what was appended (and so
// acknowledged) is applied again after a crash, in order; a record torn by
// the crash, and everything after it, is not; a checkpoint retires records.
#include "storage/chunkserver/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "base/uring.h"
#include "storage/common/protocol.h"
#include "support/test_util.h"

namespace tg::storage {
namespace {

struct Applied {
  uint64_t chunk;
  uint32_t first;
  std::vector<uint8_t> data;
  bool operator==(const Applied&) const = default;
};

std::vector<uint8_t> Blocks(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n * kBlockSize);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(seed + i / 7);
  return v;
}

Task<Result<std::unique_ptr<Journal>>> OpenRecording(Executor ex, Uring& uring, std::string path,
                                                     std::vector<Applied>& applied, int& syncs) {
  co_return co_await Journal::Open(
      ex, uring, path, 1 << 20,
      [&applied](uint64_t chunk, uint32_t first, std::span<const uint8_t> blocks, bool, uint64_t) {
        applied.push_back({chunk, first, {blocks.begin(), blocks.end()}});
        return Status::Ok();
      },
      [&syncs]() -> Task<Status> {
        ++syncs;
        co_return Status::Ok();
      });
}

Task<void> ReplayAfterCrash(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  auto uring = Uring::Create(ex);
  CO_ASSERT_OK(uring.status());
  const std::string path = dir + "/journal";
  std::vector<Applied> live, replayed;
  int syncs = 0;
  {
    auto j = co_await OpenRecording(ex, **uring, path, live, syncs);
    CO_ASSERT_OK(j.status());
    // Appends that come together share disk writes.
    TaskGroup group(ex);
    std::vector<std::vector<uint8_t>> data;
    for (int i = 0; i < 8; ++i) data.push_back(Blocks(1 + i % 3, static_cast<uint8_t>(i)));
    auto append = [](Journal& j, uint64_t chunk, uint32_t first,
                     const std::vector<uint8_t>& d) -> Task<void> {
      EXPECT_OK(co_await j.Append(chunk, first, d));
    };
    for (int i = 0; i < 8; ++i) group.Spawn("append", append(**j, 100 + i, i * 4, data[i]));
    co_await group.Join();
    EXPECT_EQ(live.size(), 8u);
    EXPECT_LT((*j)->disk_writes(), 8u) << "no group commit";
    // The process dies here: no checkpoint.
  }
  {
    auto j = co_await OpenRecording(ex, **uring, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    EXPECT_EQ(replayed, live);  // the same writes, in the same order
  }
  // Nothing left to replay after that (the reopen checkpointed).
  replayed.clear();
  {
    auto j = co_await OpenRecording(ex, **uring, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    EXPECT_TRUE(replayed.empty());
    CO_ASSERT_OK(co_await (*j)->Append(7, 0, Blocks(1, 1)));
    CO_ASSERT_OK(co_await (*j)->Append(7, 1, Blocks(1, 2)));
    CO_ASSERT_OK(co_await (*j)->Append(7, 2, Blocks(1, 3)));
  }
  // A crash tore the second record: it and the third are not applied.
  {
    int fd = ::open(path.c_str(), O_RDWR);
    const std::vector<uint8_t> second = Blocks(1, 2);
    std::vector<uint8_t> block(4096);
    off_t at = 0;
    while (::pread(fd, block.data(), block.size(), at) == 4096 && block != second) at += 4096;
    CO_ASSERT_TRUE(block == second);  // the second record's data is in the journal
    block[10] ^= 1;
    CO_ASSERT_TRUE(::pwrite(fd, block.data(), block.size(), at) == 4096);
    ::close(fd);
  }
  replayed.clear();
  {
    auto j = co_await OpenRecording(ex, **uring, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    CO_ASSERT_EQ(replayed.size(), 1u);
    EXPECT_EQ(replayed[0], (Applied{7, 0, Blocks(1, 1)}));
  }
  co_await (*uring)->Stop();
}

// Appends fill one half after the other, many times over; the halves are
// synced in the background. A crash then loses nothing acknowledged: the
// replay brings back the latest appends, in order, up to the last one.
Task<void> AppendsOutliveManyHalves(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  auto uring = Uring::Create(ex);
  CO_ASSERT_OK(uring.status());
  const std::string path = dir + "/journal";
  std::vector<Applied> live, replayed;
  int syncs = 0;
  {
    auto j = co_await OpenRecording(ex, **uring, path, live, syncs);
    CO_ASSERT_OK(j.status());
    const int before = syncs;
    // 1 MiB journal: each half holds about 60 two-block records.
    for (int i = 0; i < 500; ++i) {
      CO_ASSERT_OK(co_await (*j)->Append(1 + i % 5, static_cast<uint32_t>(i % 100),
                                         Blocks(1, static_cast<uint8_t>(i))));
    }
    EXPECT_GE(syncs - before, 6) << "the halves were not synced as they filled";
    co_await (*j)->Drain();
    // The process dies here: no checkpoint.
  }
  {
    auto j = co_await OpenRecording(ex, **uring, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    CO_ASSERT_TRUE(!replayed.empty());
    CO_ASSERT_TRUE(replayed.size() <= live.size());
    // The newest appends, in order, ending with the last one.
    const std::vector<Applied> tail(live.end() - static_cast<ptrdiff_t>(replayed.size()),
                                    live.end());
    EXPECT_TRUE(replayed == tail);
    co_await (*j)->Drain();
  }
  co_await (*uring)->Stop();
}

TEST(Journal, AppendsOutliveManyHalves) {
  testing::TempDir dir;
  asio::io_context io;
  testing::RunTask(io, AppendsOutliveManyHalves(dir.path()));
}

TEST(Journal, ReplaysAcknowledgedWritesAfterACrash) {
  testing::TempDir dir;
  asio::io_context io;
  testing::RunTask(io, ReplayAfterCrash(dir.path()));
}

}  // namespace
}  // namespace tg::storage
