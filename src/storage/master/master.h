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
// Every write is a transaction conditioned on the record it read and on
// leadership (the election's OwnerCompare), so a master that raced with a
// writer, or lost leadership mid-pass (paused past its lease), changes
// nothing. A pass acts only on a whole read: if any record does not decode,
// it reports that and changes nothing (no garbage collection on a partial
// view: a volume it cannot read would look deleted).
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
  Duration chunk_timeout = 10s;  // a chunkserver's answer to a delete
};

class Master {
 public:
  // `state` mirrors the storage prefix (kStoragePrefix); it runs on
  // standbys too, so a new leader starts from a current copy. `leadership`
  // is the term's fence (etcd::Election::OwnerCompare()), added to every
  // transaction.
  Master(etcd::Client& client, etcd::Mirror& state, etcd::Compare leadership,
         MasterOptions options = {});
  ~Master();

  // Reconciles until `stop` is set.
  Task<void> Lead(Event& stop);
  // One pass over the whole state. Fails, having changed nothing, when a
  // record does not decode; fails with FailedPrecondition when a write was
  // refused because this term's leadership is over.
  Task<Status> ReconcileOnce();

 private:
  struct State;
  // Commits under the leadership fence, remembering the revision of this
  // master's last write. A transaction refused because the fence no longer
  // holds fails (FailedPrecondition), so the pass ends there.
  Task<Result<etcd::TxnResult>> Commit(etcd::Txn txn);
  // Logs a failed pass: at error level when it differs from the last one
  // logged, or a minute after it (a pass runs every second).
  void ReportFailedPass(const Status& s);
  Task<Status> PlaceLayer(State& st, const std::string& name, uint64_t number);
  Task<Status> DeleteVolume(State& st, const std::string& name);
  Task<Status> CollectUnreferencedLayers(State& st);
  void PlanRebalancing(State& st);
  Task<Status> ReconcileChunk(State& st, uint64_t chunk_id);
  // Empties a recovery target's copy before the task that fills it.
  Task<Status> WipeBeforeFill(State& st, uint64_t chunk_id, int64_t revision,
                              const std::string& target);
  // Best effort: removes a chunk's data on a server.
  Task<Status> DeleteChunkOn(const std::string& address, uint64_t chunk_id);

  etcd::Client& client_;
  etcd::Mirror& state_;
  etcd::Compare leadership_;
  MasterOptions options_;
  std::string last_reported_;
  TimePoint last_reported_at_{};
  int64_t last_write_ = 0;
  bool term_over_ = false;  // a write was refused by the leadership fence
  std::map<std::string, std::unique_ptr<ChunkClient>> connections_;
};

}  // namespace tg::storage
