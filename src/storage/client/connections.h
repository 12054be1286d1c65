// Connections to chunkservers by server id, shared by the coroutines of one
// process role (a volume's writer, the snapshot command): the address comes
// from the server's registration in etcd, one connection per server is
// kept, and a broken one is replaced on the next use.
// Thread-safety: belongs to one executor.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/range_lock.h"
#include "etcd/client.h"
#include "storage/common/chunk_client.h"
#include "storage/common/metadata.h"

namespace tg::storage {

class ChunkConnections {
 public:
  ChunkConnections(Executor ex, etcd::Client& client, Duration timeout)
      : ex_(ex), client_(client), timeout_(timeout), connects_(ex) {}

  Task<Result<std::shared_ptr<ChunkClient>>> Get(const std::string& server);
  // Re-reads the registrations.
  Task<Status> Refresh();
  const std::map<std::string, ChunkserverInfo>& servers() const { return servers_; }
  Task<void> CloseAll();

 private:
  Executor ex_;
  etcd::Client& client_;
  Duration timeout_;
  std::map<std::string, ChunkserverInfo> servers_;
  std::map<std::string, std::shared_ptr<ChunkClient>> by_address_;
  std::map<std::string, uint64_t> address_numbers_;  // for connects_
  RangeLock connects_;                               // one connect at a time per address
};

// Makes every replica of a chunk identical: compares their block CRC lists
// and copies each differing block from the first healthy replica that
// answers (any choice is right: blocks that differ were never acknowledged).
// A recovering replica's never-written blocks are left to its recovery.
// Returns how many block copies it made.
Task<Result<size_t>> ConvergeChunk(ChunkConnections& connections, const ChunkInfo& chunk,
                                   Stamp stamp);

}  // namespace tg::storage
