// The chunk store across power cuts: its files are a FaultEnv's, so a crash
// loses everything the store had not made durable (the page cache, names not
// yet synced into their directory). After any crash, every acknowledged
// write reads back with its checksum; a write that was not acknowledged is,
// per block, wholly there or absent (or, for a large write that went to the
// chunk file directly, caught by its checksum: repaired from a replica).
// And injected errors fail the one request, clearly, never the store.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "storage/chunkserver/chunk_store.h"
#include "storage/common/protocol.h"
#include "support/fault_env.h"
#include "support/pattern.h"
#include "support/test_util.h"

namespace tg::storage {
namespace {

using testing::FaultEnv;
using testing::FaultOp;

constexpr char kDir[] = "/data";
constexpr uint64_t kVolume = 5;

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  return testing::PatternBytes(n, seed);
}

Task<Result<std::unique_ptr<ChunkStore>>> OpenStore(FaultEnv& env) {
  Executor ex = co_await asio::this_coro::executor;
  // A small journal, so that the workload fills its halves several times.
  const ChunkStoreOptions options{.env = &env, .journal_size = 1 << 20};
  co_return co_await ChunkStore::Open(ex, kDir, options);
}

struct Step {
  uint64_t chunk;
  uint32_t offset;
  std::vector<uint8_t> data;
  bool direct = false;     // goes to the chunk file, not the journal (a fresh range of 256 KiB+)
  bool with_next = false;  // in flight together with the next step
};

// Writes of every kind: whole and partial blocks, requests in flight
// together, large writes straight to the chunk file and large ones through
// the journal (over blocks it still holds), enough to fill the journal's
// halves a few times over.
std::vector<Step> Workload() {
  const uint64_t c1 = MakeChunkId(kVolume, 1), c2 = MakeChunkId(kVolume, 2),
                 c3 = MakeChunkId(kVolume, 3);
  std::vector<Step> w;
  w.push_back({c1, 0, Bytes(8192, 1)});
  w.push_back({c1, 4000, Bytes(1000, 2)});
  for (uint32_t i = 0; i < 4; ++i) {
    w.push_back(
        {c1, (1u << 20) + i * 4096, Bytes(4096, static_cast<uint8_t>(10 + i)), false, i < 3});
  }
  w.push_back({c2, 0, Bytes(256 << 10, 3), /*direct=*/true});
  w.push_back({c2, 4096, Bytes(4096, 4)});
  w.push_back({c2, 0, Bytes(256 << 10, 5)});  // over a journaled block: through the journal
  w.push_back({c1, 0, Bytes(256 << 10, 6)});
  for (uint32_t i = 0; i < 20; ++i) {
    w.push_back({c3, i * 3 * 4096 + 100, Bytes(3 * 4096, static_cast<uint8_t>(20 + i))});
  }
  w.push_back({c1, 2u << 20, Bytes(256 << 10, 7), /*direct=*/true});
  w.push_back({c3, 5, Bytes(10, 8)});
  return w;
}

// What each block touched may hold after a crash.
struct BlockModel {
  std::vector<uint8_t> acked = std::vector<uint8_t>(kBlockSize, 0);
  std::vector<std::vector<uint8_t>> maybe;  // from writes never acknowledged
  bool may_fail_checksum = false;           // an unacknowledged direct write
};
using Model = std::map<std::pair<uint64_t, uint32_t>, BlockModel>;

// Runs the workload until a request fails (the machine is gone), keeping
// the model. Returns whether every step was acknowledged.
Task<bool> RunWorkload(ChunkStore& store, Model& model) {
  Executor ex = co_await asio::this_coro::executor;
  const std::vector<Step> steps = Workload();
  for (size_t i = 0; i < steps.size();) {
    size_t end = i + 1;
    while (end < steps.size() && steps[end - 1].with_next) ++end;
    std::vector<Status> results(end - i);
    TaskGroup group(ex);
    auto write = [](ChunkStore& store, const Step& s, Status& result) -> Task<void> {
      result = co_await store.Write(s.chunk, {1, 0}, s.offset, s.data);
    };
    for (size_t k = i; k < end; ++k) group.Spawn("write", write(store, steps[k], results[k - i]));
    co_await group.Join();
    bool all_ok = true;
    for (size_t k = i; k < end; ++k) {
      const Step& s = steps[k];
      const bool ok = results[k - i].ok();
      all_ok = all_ok && ok;
      for (uint32_t b = s.offset / kBlockSize; b * kBlockSize < s.offset + s.data.size(); ++b) {
        BlockModel& m = model[{s.chunk, b}];
        std::vector<uint8_t> now = m.acked;
        const uint64_t from = std::max<uint64_t>(s.offset, uint64_t{b} * kBlockSize);
        const uint64_t to = std::min<uint64_t>(s.offset + s.data.size(), (b + 1) * kBlockSize);
        std::copy(s.data.begin() + static_cast<ptrdiff_t>(from - s.offset),
                  s.data.begin() + static_cast<ptrdiff_t>(to - s.offset),
                  now.begin() + static_cast<ptrdiff_t>(from - uint64_t{b} * kBlockSize));
        if (ok) {
          m = BlockModel{now, {}, false};
        } else {
          m.maybe.push_back(now);
          m.may_fail_checksum = m.may_fail_checksum || s.direct;
        }
      }
    }
    if (!all_ok) co_return false;
    i = end;
  }
  co_return true;
}

// Reads every block the workload touched and holds it to the model.
Task<void> CheckAgainst(ChunkStore& store, const Model& model, const std::string& when) {
  for (const auto& [where, m] : model) {
    const auto [chunk, block] = where;
    std::vector<uint8_t> got(kBlockSize);
    // Epoch 0: read as the recovery copy does, whatever epoch the crash left.
    const Stamp stamp{0, store.VersionOf(chunk)};
    Status s = co_await store.Read(chunk, stamp, block * kBlockSize, got);
    if (s.code() == ErrorCode::kDataLoss && m.may_fail_checksum) continue;
    if (!s.ok()) {
      ADD_FAILURE() << when << ": chunk " << chunk << " block " << block << ": " << s;
      continue;
    }
    const bool allowed =
        got == m.acked || std::find(m.maybe.begin(), m.maybe.end(), got) != m.maybe.end();
    EXPECT_TRUE(allowed) << when << ": chunk " << chunk << " block " << block << " holds "
                         << (got == std::vector<uint8_t>(kBlockSize, 0) ? "zeroes" : "other data")
                         << (m.maybe.empty() ? " (acknowledged)" : " (in flight)");
  }
}

// The machine loses power at one state-changing file operation, each one in
// turn, from the store's first start to the end of the workload.
Task<void> CrashAtEveryStep() {
  uint64_t crash_points = 0;
  for (uint64_t crash_at = 0;; ++crash_at) {
    FaultEnv env;
    env.CrashAtMutation(crash_at);
    Model model;
    {
      auto store = co_await OpenStore(env);
      if (store.ok()) {
        // A crash may also come after the last write: in a background sync,
        // or in the checkpoint of the clean close.
        co_await RunWorkload(**store, model);
        co_await (*store)->Close();
      }
      if (!env.crashed()) {
        CO_ASSERT_OK(store.status());
        break;  // the crash point lies past the end: all have been tried
      }
    }
    env.Restart();
    auto store = co_await OpenStore(env);
    CO_ASSERT_OK(store.status());
    co_await CheckAgainst(**store, model, fmt::format("crash at step {}", crash_at));
    co_await (*store)->Close();
    ++crash_points;
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(crash_points, 100u);
  std::cout << crash_points << " crash points tried\n";
}

TEST(ChunkStoreCrash, EveryAcknowledgedWriteSurvivesACrashAtAnyStep) {
  asio::io_context io;
  testing::RunTask(io, CrashAtEveryStep());
}

// The whole workload, then a power cut with no clean close: what the journal
// retired on the way must be in the chunk files (synced before it was
// retired), the rest is replayed; and fences, versions and the server's
// identity are still there.
Task<void> PowerCutAfterTheWorkload() {
  FaultEnv env;
  Model model;
  std::string server_id;
  {
    auto store = co_await OpenStore(env);
    CO_ASSERT_OK(store.status());
    server_id = (*store)->server_id();
    CO_ASSERT_TRUE(co_await RunWorkload(**store, model));
    CO_ASSERT_OK((*store)->Fence(kVolume, 9));
    CO_ASSERT_OK((*store)->SetVersion(MakeChunkId(kVolume, 1), 4));
    env.Crash();
    co_await (*store)->Close();  // too late: nothing reaches the disk
  }
  env.Restart();
  auto store = co_await OpenStore(env);
  CO_ASSERT_OK(store.status());
  EXPECT_EQ((*store)->server_id(), server_id);
  EXPECT_EQ((*store)->EpochOf(kVolume), 9u);
  EXPECT_EQ((*store)->VersionOf(MakeChunkId(kVolume, 1)), 4u);
  co_await CheckAgainst(**store, model, "after the workload");
  co_await (*store)->Close();
}

TEST(ChunkStoreCrash, APowerCutLosesNothingAcknowledged) {
  asio::io_context io;
  testing::RunTask(io, PowerCutAfterTheWorkload());
}

// A deleted chunk stays deleted across a power cut: no journal record brings
// it back, and its tombstone is there.
Task<void> DeleteSurvivesAPowerCut() {
  FaultEnv env;
  const uint64_t chunk = MakeChunkId(kVolume, 1);
  {
    auto store = co_await OpenStore(env);
    CO_ASSERT_OK(store.status());
    CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 0, Bytes(8192, 1)));
    CO_ASSERT_OK(co_await (*store)->Delete(chunk));
    env.Crash();
    co_await (*store)->Close();
  }
  env.Restart();
  auto store = co_await OpenStore(env);
  CO_ASSERT_OK(store.status());
  EXPECT_TRUE((*store)->ListChunks().empty());
  std::vector<uint8_t> out(4096);
  EXPECT_EQ((co_await (*store)->Read(chunk, {1, 0}, 0, out)).code(), ErrorCode::kAborted);
  co_await (*store)->Close();
}

TEST(ChunkStoreCrash, ADeletedChunkStaysDeleted) {
  asio::io_context io;
  testing::RunTask(io, DeleteSurvivesAPowerCut());
}

// EIO on a journal write fails that request only, and it is not there after
// a crash; the store carries on (a fresh generation) and what it
// acknowledged afterwards is.
Task<void> JournalWriteError() {
  FaultEnv env;
  const uint64_t chunk = MakeChunkId(kVolume, 1);
  const auto before = Bytes(4096, 1), failed = Bytes(4096, 2), after = Bytes(4096, 3);
  {
    auto store = co_await OpenStore(env);
    CO_ASSERT_OK(store.status());
    CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 0, before));
    env.InjectError(FaultOp::kWrite, EIO, 0, 1, "journal");
    Status s = co_await (*store)->Write(chunk, {1, 0}, 4096, failed);
    EXPECT_EQ(s.code(), ErrorCode::kIoError) << s;
    EXPECT_NE(s.message().find("Input/output error"), std::string::npos) << s;
    CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 8192, after));
    env.Crash();
    co_await (*store)->Close();
  }
  env.Restart();
  auto store = co_await OpenStore(env);
  CO_ASSERT_OK(store.status());
  std::vector<uint8_t> got(3 * 4096);
  CO_ASSERT_OK(co_await (*store)->Read(chunk, {1, 0}, 0, got));
  EXPECT_TRUE(std::equal(before.begin(), before.end(), got.begin()));
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 4096, got.begin() + 8192),
            std::vector<uint8_t>(4096, 0));
  EXPECT_TRUE(std::equal(after.begin(), after.end(), got.begin() + 8192));
  co_await (*store)->Close();
}

TEST(ChunkStoreFaults, AJournalWriteErrorFailsThatRequestOnly) {
  asio::io_context io;
  testing::RunTask(io, JournalWriteError());
}

// EIO from a chunk file's sync, with Linux's consequence: the dirty pages
// are forgotten, and a sync that is tried again succeeds without writing
// them. The journal then holds the only copy of those writes: it must not
// retire them. Writes are refused from then on, and a restart replays them.
Task<void> ChunkSyncError() {
  FaultEnv env;
  Model model;
  {
    auto store = co_await OpenStore(env);
    CO_ASSERT_OK(store.status());
    // The chunks are made first, so that the error hits a sync of their
    // writes (not of their creation).
    for (uint32_t i = 1; i <= 3; ++i) {
      const auto data = Bytes(4096, static_cast<uint8_t>(i));
      CO_ASSERT_OK(co_await (*store)->Write(MakeChunkId(kVolume, i), {1, 0}, 8 << 20, data));
      model[{MakeChunkId(kVolume, i), (8 << 20) / kBlockSize}] = BlockModel{data, {}, false};
    }
    env.InjectError(FaultOp::kSync, EIO, 0, 1, ".data");
    EXPECT_FALSE(co_await RunWorkload(**store, model)) << "writes went on after a failed sync";
    Status refused = co_await (*store)->Write(MakeChunkId(kVolume, 1), {1, 0}, 0, Bytes(4096, 1));
    EXPECT_EQ(refused.code(), ErrorCode::kIoError) << refused;
    env.Crash();
    co_await (*store)->Close();
  }
  env.Restart();
  auto store = co_await OpenStore(env);
  CO_ASSERT_OK(store.status());
  co_await CheckAgainst(**store, model, "after a failed sync");
  CO_ASSERT_OK(co_await (*store)->Write(MakeChunkId(kVolume, 1), {1, 0}, 0, Bytes(4096, 1)));
  co_await (*store)->Close();
}

TEST(ChunkStoreFaults, AFailedChunkSyncStopsWritesUntilAReplay) {
  asio::io_context io;
  testing::RunTask(io, ChunkSyncError());
}

// EIO while a new chunk's files are made durable: that write fails and
// leaves no half-made chunk behind, whose files a later attempt would take
// as made (never syncing their names).
Task<void> ChunkCreationError() {
  FaultEnv env;
  auto store = co_await OpenStore(env);
  CO_ASSERT_OK(store.status());
  const uint64_t chunk = MakeChunkId(kVolume, 1);
  env.InjectError(FaultOp::kSync, EIO, 0, 1, ".crc");
  Status failed = co_await (*store)->Write(chunk, {1, 0}, 0, Bytes(4096, 1));
  EXPECT_EQ(failed.code(), ErrorCode::kIoError) << failed;
  EXPECT_FALSE(env.Exists(fmt::format("{}/chunks/{:016x}.data", kDir, chunk)));
  EXPECT_FALSE(env.Exists(fmt::format("{}/chunks/{:016x}.crc", kDir, chunk)));
  const uint64_t syncs = env.count(FaultOp::kSyncDir);
  CO_ASSERT_OK(co_await (*store)->Write(chunk, {1, 0}, 0, Bytes(4096, 2)));
  EXPECT_GT(env.count(FaultOp::kSyncDir), syncs) << "the chunk's names were not synced";
  co_await (*store)->Close();
}

TEST(ChunkStoreFaults, AFailedChunkCreationLeavesNothingHalfMade) {
  asio::io_context io;
  testing::RunTask(io, ChunkCreationError());
}

// A full disk while the journal is made: the store does not open, and says
// why; with room again it opens.
Task<void> NoSpaceForTheJournal() {
  FaultEnv env;
  env.InjectError(FaultOp::kWrite, ENOSPC, 0, 1, "journal");
  auto store = co_await OpenStore(env);
  CO_ASSERT_TRUE(!store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::kIoError);
  EXPECT_NE(store.status().message().find("No space left"), std::string::npos) << store.status();
  EXPECT_NE(store.status().message().find("journal"), std::string::npos) << store.status();
  auto again = co_await OpenStore(env);
  CO_ASSERT_OK(again.status());
  CO_ASSERT_OK(co_await (*again)->Write(MakeChunkId(kVolume, 1), {1, 0}, 0, Bytes(4096, 1)));
  co_await (*again)->Close();
}

TEST(ChunkStoreFaults, NoSpaceForTheJournalFailsTheOpenClearly) {
  asio::io_context io;
  testing::RunTask(io, NoSpaceForTheJournal());
}

}  // namespace
}  // namespace tg::storage
