// Live migrations, as the scheduler places them: a Requested migration gets
// its target (the one asked for, if it fits, or the best other node, with
// the instance's anti-affinity kept) and the instance's resources reserved
// there, in one transaction conditioned like a bind. The agents do the
// rest (instance.h has the phases); the reservation is released by the
// allocation pass once the migration has ended either way.
#include <fmt/format.h>

#include <optional>

#include "base/log.h"
#include "compute/model/migration.h"
#include "compute/scheduler/event_trim.h"
#include "compute/scheduler/scheduler.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("scheduler");
  return log;
}

}  // namespace

Task<Status> Scheduler::PlaceMigrations(ComputeState& st, int64_t now_ms) {
  Status result;
  auto note = [&](const Status& s) {
    if (!s.ok() && result.ok()) result = s;
  };
  for (auto& [id, entry] : st.instances) {
    const Instance& inst = entry.value;
    if (!inst.migration || inst.migration->phase != MigrationPhase::kRequested) continue;
    const Migration& m = *inst.migration;
    // Anywhere but where it runs (or only where it was asked to go).
    ComputeState candidates = st;
    for (auto& [name, n] : candidates.nodes) {
      if (name == inst.host || (!m.target.empty() && name != m.target)) n.value.schedulable = false;
    }
    const PlacementView view(candidates, options_.policy);
    auto node = view.Choose(inst);
    Instance next = inst;
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Unchanged(InstanceKey(id), entry.revision));
    const auto event = st.events.find(m.event);
    std::optional<InstanceEvent> failed;
    if (!node.ok()) {
      next.migration.reset();
      if (event != st.events.end()) {
        failed = event->second.value;
        failed->status = std::string(kEventFailed);
        failed->reason = fmt::format("{}: {}", kNoHostForMigration, node.status().message());
        failed->finished_at = now_ms;
        txn.compares.push_back(
            etcd::Compare::Unchanged(EventKey(id, m.event), event->second.revision));
        txn.then.push_back(etcd::TxnOp::Put(EventKey(id, m.event), EncodeInstanceEvent(*failed)));
      }
    } else {
      next.migration->target = *node;
      next.migration->phase = MigrationPhase::kPlaced;
      auto& alloc = st.allocations[*node];
      NodeAllocation reserved = alloc.value;
      reserved.node = *node;
      reserved.instances[id] = inst.resources;
      txn.compares.push_back(etcd::Compare::Unchanged(AllocationKey(*node), alloc.revision));
      txn.compares.push_back(etcd::Compare::ModRevision(NodeKey(*node), etcd::Compare::Op::kEqual,
                                                        st.nodes.at(*node).revision));
      txn.then.push_back(etcd::TxnOp::Put(AllocationKey(*node), EncodeNodeAllocation(reserved)));
      for (const InstanceEvent* old : EventsToTrim(st, id))
        if (old->id != m.event) txn.then.push_back(etcd::TxnOp::Delete(EventKey(id, old->id)));
    }
    txn.then.push_back(etcd::TxnOp::Put(InstanceKey(id), EncodeInstance(next)));
    auto revision = co_await Commit(std::move(txn));
    if (term_over_) co_return revision.status();
    if (!revision.ok() || *revision == 0) {
      note(revision.ok() ? Aborted("placing the migration of {}: its records changed", id)
                         : revision.status());
      continue;
    }
    if (node.ok()) {
      Log()->info("migration {} of {}: {} -> {} (resources reserved there)", m.event, id, inst.host,
                  *node);
    } else {
      Log()->warn("migration {} of {} refused: {}", m.event, id, node.status().message());
    }
    entry = {std::move(next), *revision};
    if (node.ok()) st.allocations[*node].revision = *revision;
    // The later passes over `st` (the events' finish) see what was written.
    // (`m` went with the old record: the event's own id.)
    if (failed) st.events[failed->id] = {*failed, *revision};
  }
  co_return result;
}

}  // namespace tg::compute
