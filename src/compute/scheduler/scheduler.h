// The compute scheduler: runs on the elected server (beside the storage
// master and the gateway keeper) and binds each Pending instance to a node
// (placement.h decides where). A level-triggered controller over a mirror of
// the compute records, woken by every change and a periodic tick:
//   - each unbound, Pending instance that is not being deleted, oldest
//     first, gets a node: one transaction puts its `host` (the status stays
//     Pending; the node's agent moves it to Starting) and adds it to the
//     node's allocation record, conditioned on the instance's and the
//     allocation's revisions (or its absence), on the node's record being
//     the one read (its lease alive, capacity and labels unchanged), and on
//     leadership. So an instance is bound at most once, and a node's
//     allocation never outgrows its limit, whatever races with it;
//   - an instance that fits nowhere keeps Pending with the reason in
//     `status_reason`, written only when it changes;
//   - allocation entries whose instance record is gone, or that is not
//     bound to that node, are dropped (the capacity is free again);
//   - live migrations (migrations.cc): a requested one gets its target,
//     and the instance's resources are reserved there until it ends;
//   - host drains (drains.cc): a drained node is given nothing, and its
//     instances migrate away (or restart elsewhere, or stop, as each
//     instance's action on maintenance says, when they cannot);
//   - host failures (recovery.cc): the instances bound to a node whose
//     record is gone (its lease lapsed: the agent died, or was cut off from
//     etcd and has paused its guests) are unbound, one transaction each,
//     conditioned on the node's record still being absent, with their
//     incarnation raised and an event; those to restart are then placed
//     like new ones (highest restart priority first, at most
//     `max_concurrent_restarts` at once), and the new host's agent fences
//     the old incarnation (new volume epochs, ENIs rebound) before its QEMU
//     starts. The lost node is remembered, and one that comes back gets no
//     new instances for `flap_quarantine`.
// A pass acts only on a whole read: if any compute record does not decode it
// changes nothing and logs the key (binding on a view without an
// allocation would over-commit its node). Every write carries the election's
// fence: once it fails the term is over and the scheduler stops.
//
// Thread-safety: belongs to the client's executor.
#pragma once

#include <string>

#include "base/async.h"
#include "compute/model/compute_state.h"
#include "compute/scheduler/placement.h"
#include "etcd/client.h"
#include "etcd/mirror.h"

namespace tg::compute {

struct SchedulerOptions {
  PlacementPolicy policy;
  // A pass at least this often, even with no change seen (a failed write
  // or an etcd outage is retried then).
  Duration tick = 1s;
  // A node that lost its lease and came back is given no instances for
  // this long (a flapping host would otherwise take instances and lose
  // them again).
  Duration flap_quarantine = std::chrono::seconds(60);
  // Restarts after host failures under way at once (placed, not yet
  // Running), over the whole cluster.
  size_t max_concurrent_restarts = 16;
};

class Scheduler {
 public:
  // `compute_state`: a mirror of kComputePrefix kept by the caller (on
  // standbys too). `fence`: the term's etcd::Election::OwnerCompare().
  Scheduler(etcd::Client& client, etcd::Mirror& compute_state, etcd::Compare fence,
            SchedulerOptions options = {});

  // Schedules until `stop` is set or the term is over.
  Task<void> Lead(Event& stop);
  // One pass over the mirror as it is. OK when every instance that could
  // be bound was; the record's error (nothing changed) when one does not
  // decode; FailedPrecondition once the fence fails; Aborted when a record
  // changed under a write (the next pass, after the mirror's change, tries
  // again); else the first failed write's error.
  Task<Status> Pass();

 private:
  // Commits with the fence added: the commit's revision if it applied, 0 if
  // one of the transaction's own compares failed; FailedPrecondition if the
  // fence did.
  Task<Result<int64_t>> Commit(etcd::Txn txn);
  // Updates `entry` (and the allocation in `st`) to what it wrote.
  Task<Status> BindInstance(ComputeState& st, PlacementView& view,
                            ComputeState::Entry<Instance>& entry, const std::string& node);
  Task<Status> WriteReason(const ComputeState::Entry<Instance>& entry, const std::string& reason);
  Task<Status> CollectAllocations(const ComputeState& st);
  // recovery.cc
  Task<Status> RecoverLostNodes(ComputeState& st, int64_t now_ms);
  Task<Status> RecoverInstance(ComputeState& st, ComputeState::Entry<Instance>& entry,
                               int64_t now_ms);
  Task<Status> KeepNodeLosses(ComputeState& st, int64_t now_ms);
  Task<Status> FinishEvents(const ComputeState& st, int64_t now_ms);
  // migrations.cc
  Task<Status> PlaceMigrations(ComputeState& st, int64_t now_ms);
  // drains.cc: drained nodes are made unschedulable in `st`; their
  // instances are moved away.
  void KeepOffDrained(ComputeState& st) const;
  Task<Status> DrainNodes(ComputeState& st, int64_t now_ms);
  static constexpr size_t kDrainMigrationsAtOnce = 2;  // per drained node
  // Nodes in their quarantine are made unschedulable in `st` (this pass's
  // copy): placement passes them over.
  void Quarantine(ComputeState& st, int64_t now_ms) const;
  // Restarts placed and not yet Running.
  size_t RestartsInFlight(const ComputeState& st) const;
  void ReportFailedPass(const Status& s);

  etcd::Client& client_;
  etcd::Mirror& state_;
  etcd::Compare fence_;
  SchedulerOptions options_;
  int64_t last_write_ = 0;
  bool term_over_ = false;
  std::string last_reported_;
  TimePoint last_reported_at_{};
};

}  // namespace tg::compute
