// libFuzzer target: the chunkserver journal's replay (Journal::Replay), the
// step that reads whatever a crash left on the disk. The input is the
// journal file; the templates are journals the real writer left (records in
// one generation, in both halves after a switch, checksums-only records),
// read through the in-memory Env of the crash tests. Whatever the bytes,
// replay must apply only records that fit their payload, and reading the
// same file twice must apply the same.
//
// Input: see recipe.h; the offset is in 256-byte steps (the whole journal is
// in reach), flag 1 cuts the file where the bytes end, and the choice byte
// picks the size the replay is told (the file's, or a few smaller ones).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/asio.h"
#include "recipe.h"
#include "storage/chunkserver/journal.h"
#include "storage/common/protocol.h"
#include "support/fault_env.h"

namespace tg::storage {
namespace {

constexpr uint64_t kSize = 16 * kBlockSize;  // two halves of 7 blocks
constexpr char kPath[] = "/disk/journal";

struct Applied {
  uint64_t chunk;
  uint32_t first;
  size_t bytes;
  bool checksums_only;
  uint64_t generation;
  bool operator==(const Applied&) const = default;
};

// A journal the writer leaves after `appends` appends of 1-2 blocks (every
// third one checksums only), without a checkpoint after them.
Task<std::vector<uint8_t>> Written(testing::FaultEnv& env, int appends) {
  Executor ex = co_await asio::this_coro::executor;
  (void)env.Remove(kPath);
  auto j = co_await Journal::Open(
      ex, env, kPath, kSize,
      [](uint64_t, uint32_t, std::span<const uint8_t>, bool, uint64_t) { return Status::Ok(); },
      []() -> Task<Status> { co_return Status::Ok(); });
  if (!j.ok()) co_return std::vector<uint8_t>{};
  for (int i = 0; i < appends; ++i) {
    if (i % 3 == 2) {
      const uint32_t crcs[] = {0x1234u + i, 0x5678u};
      (void)co_await (*j)->AppendChecksums(MakeChunkId(1, i), 4 * i, crcs);
    } else {
      std::vector<uint8_t> blocks(kBlockSize * (1 + i % 2), static_cast<uint8_t>(i));
      (void)co_await (*j)->Append(MakeChunkId(1, i), 8 * i, blocks);
    }
  }
  co_await (*j)->Drain();
  co_return env.Contents(kPath).value_or(std::vector<uint8_t>{});
}

Task<void> WriteTemplates(testing::FaultEnv& env, std::vector<std::vector<uint8_t>>& out) {
  for (int appends : {3, 8}) out.push_back(co_await Written(env, appends));
}

std::vector<std::vector<uint8_t>> Templates(testing::FaultEnv& env) {
  std::vector<std::vector<uint8_t>> out{{}};
  asio::io_context io;
  asio::co_spawn(io, WriteTemplates(env, out), asio::detached);
  io.run();
  return out;
}

std::vector<Applied> Replay(testing::FaultEnv& env, uint64_t size) {
  std::vector<Applied> applied;
  auto file = env.Open(kPath, {});
  if (!file.ok()) __builtin_trap();
  auto r = Journal::Replay(
      **file, size,
      [&](uint64_t chunk, uint32_t first, std::span<const uint8_t> blocks, bool checksums_only,
          uint64_t generation) {
        // A record's payload covers its blocks, each whole (or one CRC each).
        if (blocks.empty() || blocks.size() % (checksums_only ? 4 : kBlockSize) != 0)
          __builtin_trap();
        applied.push_back({chunk, first, blocks.size(), checksums_only, generation});
        return Status::Ok();
      });
  if (r.ok() && r->records != applied.size()) __builtin_trap();
  return applied;
}

}  // namespace
}  // namespace tg::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::storage;
  static tg::testing::FaultEnv env;
  static const std::vector<std::vector<uint8_t>> templates = [] {
    (void)env.CreateDir("/disk");
    return Templates(env);
  }();
  const tg::fuzz::Recipe recipe = tg::fuzz::ReadRecipe(data, size);
  const auto image = tg::fuzz::Overlay(tg::fuzz::Choose(templates, recipe), recipe.offset * 256u,
                                       recipe.bytes, recipe.flags & 1);
  if (!env.SetContents(kPath, image).ok()) __builtin_trap();
  const uint64_t sizes[] = {kSize, image.size(), 3 * kBlockSize, kSize - 100, kSize + kBlockSize};
  const uint64_t told = sizes[recipe.choice % 5];
  if (Replay(env, told) != Replay(env, told)) __builtin_trap();  // the file is all it reads
  return 0;
}
