// libFuzzer target: the storage records' JSON decoders (chunkservers,
// volumes, chunks, recovery tasks; src/storage/common/metadata.cc). A record
// that decodes must encode and decode again to the same record; anything
// else must be refused with an error, never a crash.
//
// Input: see recipe.h; the choice byte picks the decoder, the template an
// example record of any kind; flag 1 cuts the text where the bytes end.
#include <cstddef>
#include <cstdint>

#include "records.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"

namespace tg::storage {
namespace {

std::vector<fuzz::RecordKind> Kinds() {
  const ChunkserverInfo server{.id = "cs-1",
                               .address = "127.0.0.1:7000",
                               .host = "node-1",
                               .rack = "r1",
                               .capacity_bytes = 1ull << 40,
                               .free_bytes = 1ull << 39,
                               .chunks = 12,
                               .corrupt_chunks = {MakeChunkId(3, 1), MakeChunkId(4, 0)}};
  const VolumeInfo volume{.name = "vol-1",
                          .number = 5,
                          .size = 10ull << 30,
                          .epoch = 3,
                          .state = VolumeState::kAvailable,
                          .parents = {4, 2},
                          .next_number = 6};
  const VolumeInfo snapshot{.name = "snap-1",
                            .number = 4,
                            .size = 1ull << 30,
                            .epoch = kFrozenEpoch,
                            .state = VolumeState::kDeleting,
                            .snapshot = true};
  const ChunkInfo chunk{
      .chunk_id = MakeChunkId(5, 2),
      .version = 4,
      .replicas = {{"cs-1", ReplicaState::kHealthy}, {"cs-2", ReplicaState::kRecovering}}};
  const RecoveryTask task{.chunk_id = MakeChunkId(5, 2),
                          .version = 4,
                          .sources = {"127.0.0.1:7000", "127.0.0.2:7000"},
                          .done = true};
  return {{Encode(server), fuzz::RoundTrip<DecodeChunkserver>},
          {Encode(volume), fuzz::RoundTrip<DecodeVolume>},
          {Encode(snapshot), fuzz::RoundTrip<DecodeVolume>},
          {Encode(chunk), fuzz::RoundTrip<DecodeChunk>},
          {Encode(task), fuzz::RoundTrip<DecodeTask>}};
}

}  // namespace
}  // namespace tg::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<tg::fuzz::RecordKind> kinds = tg::storage::Kinds();
  tg::fuzz::RunRecord(kinds, data, size);
  return 0;
}
