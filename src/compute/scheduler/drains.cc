// Host drains, as the scheduler carries them out. A drained node gets no
// new instances (nor migrations), and what is bound to it moves away:
//   - a Running instance migrates live, a few at a time per node;
//   - one whose live migration failed since the drain began does as its
//     action on maintenance says: restarted on another host from the same
//     disks (its incarnation raised, so the agents fence the old copy as
//     after a host failure), or stopped;
//   - a Stopped one is unbound (it starts wherever it is placed next);
//   - one Starting, Stopping or being deleted is waited for, and so is a
//     running one no other host has room for.
// Each step is one transaction conditioned on the instance and the drain
// record as read: an undrain in between stops what has not begun.
#include <fmt/format.h>

#include <optional>

#include "base/log.h"
#include "compute/model/migration.h"
#include "compute/scheduler/event_trim.h"
#include "compute/scheduler/scheduler.h"
#include "network/model/ids.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("scheduler");
  return log;
}

// Whether a live migration of `id` was tried and failed since the drain
// began (one refused for want of a host was not tried: it is asked again
// once a host has room).
bool MigrationFailedSince(const ComputeState& st, const std::string& id, int64_t since) {
  for (const auto& [eid, e] : st.events) {
    const InstanceEvent& ev = e.value;
    if (ev.instance == id && ev.type == kEventLiveMigrate && ev.status == kEventFailed &&
        ev.created_at >= since && !ev.reason.starts_with(kNoHostForMigration))
      return true;
  }
  return false;
}

}  // namespace

void Scheduler::KeepOffDrained(ComputeState& st) const {
  for (const auto& [name, d] : st.drains) {
    if (auto node = st.nodes.find(name); node != st.nodes.end())
      node->second.value.schedulable = false;
  }
}

Task<Status> Scheduler::DrainNodes(ComputeState& st, int64_t now_ms) {
  Status result;
  auto note = [&](const Status& s) {
    if (!s.ok() && result.ok()) result = s;
  };
  for (const auto& [name, drain] : st.drains) {
    if (!st.nodes.contains(name)) continue;  // lost: recovery takes its instances
    // Where its instances could go (nothing is bound in this pass: a
    // restart elsewhere is placed with the pending ones, after it).
    const PlacementView elsewhere(st, options_.policy);
    size_t moving = 0;
    for (const auto& [id, e] : st.instances)
      moving += e.value.migration && e.value.migration->source == name;
    for (auto& [id, entry] : st.instances) {
      const Instance& inst = entry.value;
      if (inst.host != name || inst.migration || inst.deleting) continue;
      Instance next = inst;
      std::optional<InstanceEvent> event;
      const bool running =
          inst.status == InstanceStatus::kRunning && inst.desired == PowerState::kRunning;
      // Nowhere to go yet (a one-host cloud, or all full): it keeps
      // running here, and the host stays draining.
      if (running && !elsewhere.Choose(inst).ok()) continue;
      if (inst.status == InstanceStatus::kStopped && inst.desired == PowerState::kStopped) {
        next.host.clear();
        next.status_reason = fmt::format("host {} drained while it was stopped", name);
      } else if (running && MigrationFailedSince(st, id, drain.value.requested_at)) {
        InstanceEvent ev{.id = network::NewId(kEventIdPrefix),
                         .instance = id,
                         .from_host = name,
                         .created_at = now_ms};
        if (inst.on_host_failure == FailureAction::kRestart) {
          next.host.clear();
          ++next.incarnation;
          next.status = InstanceStatus::kPending;
          next.status_reason = fmt::format("restarting: host {} drained", name);
          next.status_changed_at = now_ms;
          ev.type = std::string(kEventMaintenanceRedeploy);
          ev.status = std::string(kEventExecuting);
          ev.reason = fmt::format(
              "host {} drained and the live migration failed: restarting on another host from "
              "the same disks",
              name);
        } else {
          next.desired = PowerState::kStopped;
          ev.type = std::string(kEventMaintenanceStop);
          ev.status = std::string(kEventExecuted);
          ev.finished_at = now_ms;
          ev.reason = fmt::format(
              "host {} drained and the live migration failed: stopped (its action on "
              "maintenance is Stop)",
              name);
        }
        ev.incarnation = next.incarnation;
        event = std::move(ev);
      } else if (running && moving < kDrainMigrationsAtOnce) {
        auto begun = BeginMigration(next, MigrateRequest{},
                                    fmt::format("host {} drained: moving live", name), now_ms);
        if (!begun.ok()) {
          note(begun.status());
          continue;
        }
        event = std::move(*begun);
        ++moving;
      } else {
        continue;  // settling, or waiting for a migration slot
      }
      etcd::Txn txn;
      txn.compares.push_back(etcd::Compare::Unchanged(InstanceKey(id), entry.revision));
      txn.compares.push_back(etcd::Compare::Unchanged(DrainKey(name), drain.revision));
      txn.then.push_back(etcd::TxnOp::Put(InstanceKey(id), EncodeInstance(next)));
      std::vector<const InstanceEvent*> trimmed;
      if (event) {
        trimmed = EventsToTrim(st, id);
        txn.then.push_back(etcd::TxnOp::Put(EventKey(id, event->id), EncodeInstanceEvent(*event)));
        for (const InstanceEvent* old : trimmed)
          txn.then.push_back(etcd::TxnOp::Delete(EventKey(id, old->id)));
      }
      auto revision = co_await Commit(std::move(txn));
      if (term_over_) co_return revision.status();
      if (!revision.ok() || *revision == 0) {
        note(revision.ok() ? Aborted("draining {}: {} or the drain changed", name, id)
                           : revision.status());
        continue;
      }
      Log()->info("drain of {}: {} {}", name, id, event ? event->reason : next.status_reason);
      if (event) {
        for (const InstanceEvent* old : trimmed) st.events.erase(old->id);
        st.events[event->id] = {*event, *revision};
      }
      entry = {std::move(next), *revision};
    }
  }
  co_return result;
}

}  // namespace tg::compute
