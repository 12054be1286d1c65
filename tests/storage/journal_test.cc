// The chunkserver's write-ahead journal: what was appended (and so
// acknowledged) is applied again after a crash, in order; a record torn by
// the crash, and everything after it, is not; a checkpoint retires records.
// The files are a FaultEnv's: a crash loses everything not yet durable.
#include "storage/chunkserver/journal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "storage/common/protocol.h"
#include "support/fault_env.h"
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

Task<Result<std::unique_ptr<Journal>>> OpenRecording(Executor ex, Env& env, std::string path,
                                                     std::vector<Applied>& applied, int& syncs) {
  co_return co_await Journal::Open(
      ex, env, path, 1 << 20,
      [&applied](uint64_t chunk, uint32_t first, std::span<const uint8_t> blocks, bool, uint64_t) {
        applied.push_back({chunk, first, {blocks.begin(), blocks.end()}});
        return Status::Ok();
      },
      [&syncs]() -> Task<Status> {
        ++syncs;
        co_return Status::Ok();
      });
}

constexpr char kPath[] = "/disk/journal";

// The process dies, and the machine with it: what is not durable is gone.
void PowerCut(testing::FaultEnv& env) {
  env.Crash();
  env.Restart();
}

Task<void> ReplayAfterCrash() {
  Executor ex = co_await asio::this_coro::executor;
  testing::FaultEnv env;
  CO_ASSERT_OK(env.CreateDir("/disk"));
  const std::string path = kPath;
  std::vector<Applied> live, replayed;
  int syncs = 0;
  {
    auto j = co_await OpenRecording(ex, env, path, live, syncs);
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
    PowerCut(env);  // no checkpoint
  }
  {
    auto j = co_await OpenRecording(ex, env, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    EXPECT_EQ(replayed, live);  // the same writes, in the same order
    PowerCut(env);
  }
  // Nothing left to replay after that (the reopen checkpointed).
  replayed.clear();
  {
    auto j = co_await OpenRecording(ex, env, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    EXPECT_TRUE(replayed.empty());
    CO_ASSERT_OK(co_await (*j)->Append(7, 0, Blocks(1, 1)));
    CO_ASSERT_OK(co_await (*j)->Append(7, 1, Blocks(1, 2)));
    CO_ASSERT_OK(co_await (*j)->Append(7, 2, Blocks(1, 3)));
    PowerCut(env);
  }
  // A crash tore the second record: it and the third are not applied.
  {
    auto bytes = env.Contents(path);
    CO_ASSERT_OK(bytes.status());
    const std::vector<uint8_t> second = Blocks(1, 2);
    auto at = std::search(bytes->begin(), bytes->end(), second.begin(), second.end());
    CO_ASSERT_TRUE(at != bytes->end());  // the second record's data is in the journal
    at[10] ^= 1;
    CO_ASSERT_OK(env.SetContents(path, *bytes));
  }
  replayed.clear();
  {
    auto j = co_await OpenRecording(ex, env, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    CO_ASSERT_EQ(replayed.size(), 1u);
    EXPECT_EQ(replayed[0], (Applied{7, 0, Blocks(1, 1)}));
  }
}

// Appends fill one half after the other, many times over; the halves are
// synced in the background. A crash then loses nothing acknowledged: the
// replay brings back the latest appends, in order, up to the last one.
Task<void> AppendsOutliveManyHalves() {
  Executor ex = co_await asio::this_coro::executor;
  testing::FaultEnv env;
  CO_ASSERT_OK(env.CreateDir("/disk"));
  const std::string path = kPath;
  std::vector<Applied> live, replayed;
  int syncs = 0;
  {
    auto j = co_await OpenRecording(ex, env, path, live, syncs);
    CO_ASSERT_OK(j.status());
    const int before = syncs;
    // 1 MiB journal: each half holds about 60 two-block records.
    for (int i = 0; i < 500; ++i) {
      CO_ASSERT_OK(co_await (*j)->Append(1 + i % 5, static_cast<uint32_t>(i % 100),
                                         Blocks(1, static_cast<uint8_t>(i))));
    }
    EXPECT_GE(syncs - before, 6) << "the halves were not synced as they filled";
    co_await (*j)->Drain();
    PowerCut(env);  // no checkpoint
  }
  {
    auto j = co_await OpenRecording(ex, env, path, replayed, syncs);
    CO_ASSERT_OK(j.status());
    CO_ASSERT_TRUE(!replayed.empty());
    CO_ASSERT_TRUE(replayed.size() <= live.size());
    // The newest appends, in order, ending with the last one.
    const std::vector<Applied> tail(live.end() - static_cast<ptrdiff_t>(replayed.size()),
                                    live.end());
    EXPECT_TRUE(replayed == tail);
    co_await (*j)->Drain();
  }
}

TEST(Journal, AppendsOutliveManyHalves) {
  asio::io_context io;
  testing::RunTask(io, AppendsOutliveManyHalves());
}

TEST(Journal, ReplaysAcknowledgedWritesAfterACrash) {
  asio::io_context io;
  testing::RunTask(io, ReplayAfterCrash());
}

// Appends, four at a time, each to its own chunk id; the machine loses power
// at one state-changing file operation, every one in turn (the journal's
// creation included). After it, every acknowledged append is replayed, in
// the order it was applied, and anything else replayed is some append whole.
Task<void> CrashAtEveryStep() {
  Executor ex = co_await asio::this_coro::executor;
  constexpr int kAppends = 24;
  auto data_of = [](int i) { return Blocks(1 + i % 3, static_cast<uint8_t>(i)); };
  for (uint64_t crash_at = 0;; ++crash_at) {
    testing::FaultEnv env;
    CO_ASSERT_OK(env.CreateDir("/disk"));
    env.CrashAtMutation(crash_at);
    std::vector<Applied> live, replayed;
    std::set<uint64_t> acked;
    int syncs = 0;
    {
      auto j = co_await OpenRecording(ex, env, kPath, live, syncs);
      for (int i = 0; j.ok() && i < kAppends && !env.crashed(); i += 4) {
        TaskGroup group(ex);
        auto append = [](Journal& j, uint64_t id, std::vector<uint8_t> d,
                         std::set<uint64_t>& acked) -> Task<void> {
          if ((co_await j.Append(id, 0, d)).ok()) acked.insert(id);
        };
        for (int k = i; k < i + 4; ++k) group.Spawn("append", append(**j, k, data_of(k), acked));
        co_await group.Join();
      }
      if (!env.crashed()) {
        // Past the last step: every crash point has been tried.
        EXPECT_EQ(acked.size(), size_t{kAppends});
        co_return;
      }
    }
    env.Restart();
    auto j = co_await OpenRecording(ex, env, kPath, replayed, syncs);
    CO_ASSERT_OK(j.status());
    std::vector<Applied> acked_live, acked_replayed;
    for (const Applied& a : live)
      if (acked.count(a.chunk)) acked_live.push_back(a);
    for (const Applied& a : replayed) {
      EXPECT_EQ(a.data, data_of(static_cast<int>(a.chunk))) << "crash at " << crash_at;
      if (acked.count(a.chunk)) acked_replayed.push_back(a);
    }
    CO_ASSERT_TRUE(acked_replayed == acked_live);
  }
}

TEST(Journal, NoAcknowledgedAppendIsLostWhereverTheCrashComes) {
  asio::io_context io;
  testing::RunTask(io, CrashAtEveryStep());
}

}  // namespace
}  // namespace tg::storage
