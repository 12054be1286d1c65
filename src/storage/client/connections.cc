#include "storage/client/connections.h"

#include "storage/common/crc32c.h"
#include "storage/common/protocol.h"

namespace tg::storage {

Task<Status> ChunkConnections::Refresh() {
  auto got = co_await client_.Get(std::string(kChunkserversPrefix), {.prefix = true});
  TG_CO_RETURN_IF_ERROR(got.status());
  // All or nothing: a server whose record did not decode would look
  // unregistered, and its healthy replicas would be reported failed.
  std::map<std::string, ChunkserverInfo> servers;
  for (const auto& kv : got->kvs) {
    auto s = DecodeChunkserver(kv.value);
    if (!s.ok()) co_return s.status().Annotate(kv.key);
    servers[s->id] = *std::move(s);
  }
  servers_ = std::move(servers);
  co_return Status::Ok();
}

Task<Result<std::shared_ptr<ChunkClient>>> ChunkConnections::Get(const std::string& server) {
  if (!servers_.count(server)) TG_CO_RETURN_IF_ERROR(co_await Refresh());
  auto s = servers_.find(server);
  if (s == servers_.end()) co_return Unavailable("chunkserver {} is not registered", server);
  const std::string address = s->second.address;
  auto [num, inserted] = address_numbers_.emplace(address, address_numbers_.size());
  auto hold = co_await connects_.Acquire({num->second, 0, 1});
  auto& slot = by_address_[address];
  if (slot && !slot->broken()) co_return slot;
  if (slot) {
    auto old = std::move(slot);
    co_await old->Close();
  }
  TG_CO_ASSIGN_OR_RETURN(auto made, co_await ChunkClient::Connect(ex_, address, timeout_));
  slot = std::shared_ptr<ChunkClient>(std::move(made));
  co_return slot;
}

Task<void> ChunkConnections::CloseAll() {
  for (auto& [address, c] : by_address_)
    if (c) co_await c->Close();
  by_address_.clear();
}

Task<Result<size_t>> ConvergeChunk(ChunkConnections& connections, const ChunkInfo& chunk,
                                   Stamp stamp) {
  const uint64_t id = chunk.chunk_id;
  std::vector<std::pair<const Replica*, std::vector<uint32_t>>> lists;
  for (const auto& r : chunk.replicas) {
    auto c = co_await connections.Get(r.server);
    if (!c.ok()) continue;
    auto crcs = co_await (*c)->BlockCrcs(id);
    if (!crcs.ok()) continue;
    lists.emplace_back(&r, std::move(*crcs));
  }
  const std::vector<uint32_t>* reference = nullptr;
  std::string reference_server;
  for (auto& [r, crcs] : lists) {
    if (r->state == ReplicaState::kHealthy) {
      reference = &crcs;
      reference_server = r->server;
      break;
    }
  }
  if (!reference) co_return size_t{0};
  size_t copies = 0;
  for (uint32_t b = 0; b < kBlocksPerChunk; ++b) {
    std::vector<std::string> differ;
    for (auto& [r, crcs] : lists) {
      if (EffectiveBlockCrc(crcs[b]) == EffectiveBlockCrc((*reference)[b])) continue;
      if (r->state == ReplicaState::kRecovering && crcs[b] == 0) continue;
      differ.push_back(r->server);
    }
    if (differ.empty()) continue;
    auto ref = co_await connections.Get(reference_server);
    if (!ref.ok()) co_return ref.status();
    TG_CO_ASSIGN_OR_RETURN(AlignedBuffer read,
                           co_await (*ref)->ReadBuffer(id, stamp, b * kBlockSize, kBlockSize));
    const StablePayload block = StablePayload::Of(SharedBytes(std::move(read)));
    for (const auto& server : differ) {
      auto c = co_await connections.Get(server);
      if (!c.ok()) continue;
      TG_CO_RETURN_IF_ERROR(co_await (*c)->Write(id, stamp, b * kBlockSize, block));
      ++copies;
    }
  }
  co_return copies;
}

}  // namespace tg::storage
