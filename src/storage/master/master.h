// The storage master: runs in the server that leads the controllers and
// turns the storage records in etcd into placement decisions. It is a
// level-triggered controller: every change under the storage prefix (and a
// periodic tick) wakes it, it reads the whole state and fixes what differs
// from the goal:
//   - a volume being created gets its chunks placed (copysets, 3 hosts);
//   - a replica on a chunkserver whose lease lapsed, or reported failed by a
//     writer, or found corrupt by a scrubber, leaves the replica set (new
//     version), unless it is the last healthy one;
//   - a chunk with fewer than 3 replicas gets a new member, marked
//     recovering, and a recovery task for it (rate-limited per target);
//   - a finished task turns its replica healthy;
//   - when replicas per server differ by more than one (a chunkserver
//     joined), a few chunks at a time get a replica on the lightest server,
//     and once it is healthy the one on the heaviest goes (rebalancing);
//   - a volume being deleted loses its record; the chunks of layers that no
//     volume or snapshot names any more are deleted (reference counting).
// Every write is a transaction conditioned on the record it read, so a
// master that lost leadership, or raced with a writer, changes nothing.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/async.h"
#include "etcd/client.h"
#include "etcd/mirror.h"

namespace tg::storage {

class ChunkClient;

struct MasterOptions {
  int scatter_width = 4;         // copysets: peers per server
  int max_tasks_per_server = 8;  // recovery copies into one server at once
  int max_tasks = 64;            // and in the whole cluster
  int max_moves = 4;             // rebalancing moves started per pass
};

class Master {
 public:
  // `state` mirrors the storage prefix (kStoragePrefix); it runs on
  // standbys too, so a new leader starts from a current copy.
  Master(etcd::Client& client, etcd::Mirror& state, MasterOptions options = {});
  ~Master();

  // Reconciles until `stop` is set.
  Task<void> Lead(Event& stop);
  // One pass over the whole state.
  Task<Status> ReconcileOnce();

 private:
  struct State;
  // Commits, remembering the revision of this master's last write.
  Task<Result<etcd::TxnResult>> Commit(etcd::Txn txn);
  Task<Status> PlaceLayer(State& st, const std::string& name, uint64_t number);
  Task<Status> DeleteVolume(State& st, const std::string& name);
  Task<Status> CollectUnreferencedLayers(State& st);
  void PlanRebalancing(State& st);
  Task<Status> ReconcileChunk(State& st, uint64_t chunk_id);
  // Best effort: removes a chunk's data on a server.
  Task<Status> DeleteChunkOn(const std::string& address, uint64_t chunk_id);

  etcd::Client& client_;
  etcd::Mirror& state_;
  MasterOptions options_;
  int64_t last_write_ = 0;
  std::map<std::string, std::unique_ptr<ChunkClient>> connections_;
};

}  // namespace tg::storage
