// Host failures, as the scheduler handles them (docs/compute.md has the
// timeline). A node is lost when instances are bound to it and its record,
// which lives on the agent's lease, is gone. Its agent has paused its guests
// by then (it does so before its lease can lapse) or is dead; either way it
// can never resume them, because each instance's incarnation is raised here
// and the next host's agent opens its volumes at a new epoch.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>
#include <vector>

#include "base/log.h"
#include "compute/scheduler/event_trim.h"
#include "compute/scheduler/scheduler.h"
#include "network/model/ids.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("scheduler");
  return log;
}

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

void Scheduler::Quarantine(ComputeState& st, int64_t now_ms) const {
  for (const auto& [name, loss] : st.node_losses) {
    auto node = st.nodes.find(name);
    if (node == st.nodes.end()) continue;
    const int64_t back = loss.value.returned_at;
    if (back == 0 || now_ms - back < Millis(options_.flap_quarantine))
      node->second.value.schedulable = false;
  }
}

size_t Scheduler::RestartsInFlight(const ComputeState& st) const {
  size_t n = 0;
  for (const auto& [id, e] : st.events) {
    if (e.value.type != kEventRedeploy || e.value.status != kEventExecuting) continue;
    auto inst = st.instances.find(e.value.instance);
    if (inst == st.instances.end()) continue;
    const Instance& i = inst->second.value;
    if (i.incarnation == e.value.incarnation && !i.host.empty() &&
        i.status != InstanceStatus::kRunning)
      ++n;
  }
  return n;
}

Task<Status> Scheduler::RecoverLostNodes(ComputeState& st, int64_t now_ms) {
  Status result;
  auto note = [&](const Status& s) {
    if (!s.ok() && result.ok()) result = s;
  };
  std::vector<ComputeState::Entry<Instance>*> orphans;
  std::set<std::string> lost;
  for (auto& [id, e] : st.instances) {
    const std::string& host = e.value.host;
    if (host.empty() || st.nodes.contains(host)) continue;
    orphans.push_back(&e);
    lost.insert(host);
  }
  for (const std::string& node : lost) {
    auto known = st.node_losses.find(node);
    NodeLoss loss{.node = node, .lost_at = now_ms};
    if (known != st.node_losses.end()) {
      if (known->second.value.returned_at == 0) continue;  // already known lost
      loss.losses = known->second.value.losses + 1;        // lost again
    }
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Missing(NodeKey(node)));
    txn.compares.push_back(etcd::Compare::Unchanged(
        NodeLossKey(node), known == st.node_losses.end() ? 0 : known->second.revision));
    txn.then.push_back(etcd::TxnOp::Put(NodeLossKey(node), EncodeNodeLoss(loss)));
    auto revision = co_await Commit(std::move(txn));
    if (term_over_) co_return revision.status();
    if (!revision.ok() || *revision == 0) {
      note(revision.ok() ? Aborted("the loss of {} changed meanwhile", node) : revision.status());
      continue;
    }
    Log()->warn("compute node {} lost (its lease lapsed): recovering its instances", node);
    st.node_losses[node] = {loss, *revision};
  }
  // The most important first: they are also placed first, and a limit on
  // restarts in flight lets them through before the others.
  std::sort(orphans.begin(), orphans.end(), [](const auto* a, const auto* b) {
    return std::make_tuple(-static_cast<int64_t>(a->value.restart_priority), a->value.created_at,
                           a->value.id) <
           std::make_tuple(-static_cast<int64_t>(b->value.restart_priority), b->value.created_at,
                           b->value.id);
  });
  for (auto* e : orphans) {
    note(co_await RecoverInstance(st, *e, now_ms));
    if (term_over_) co_return result;
  }
  co_return result;
}

Task<Status> Scheduler::RecoverInstance(ComputeState& st, ComputeState::Entry<Instance>& entry,
                                        int64_t now_ms) {
  const Instance& inst = entry.value;
  const std::string from = inst.host;
  Instance next = inst;
  next.host.clear();
  next.migration.reset();  // a migration it was in ends with its host (its event: Failed)
  ++next.incarnation;
  next.status_changed_at = now_ms;
  InstanceEvent event{.id = network::NewId(kEventIdPrefix),
                      .instance = inst.id,
                      .type = std::string(kEventRedeploy),
                      .status = std::string(kEventExecuting),
                      .from_host = from,
                      .incarnation = next.incarnation,
                      .created_at = now_ms};
  bool with_event = true;
  if (inst.deleting) {
    // Its delete finishes on whichever host takes it.
    next.status = InstanceStatus::kPending;
    next.status_reason = fmt::format("host {} failed during the delete", from);
    event.reason = fmt::format("host {} failed; the delete goes on from another host", from);
  } else if (inst.desired == PowerState::kRunning &&
             inst.on_host_failure == FailureAction::kRestart) {
    next.status = InstanceStatus::kPending;
    next.status_reason = fmt::format("restarting: host {} failed", from);
    event.reason =
        fmt::format("host {} failed: restarting on another host from the same disks", from);
  } else if (inst.desired == PowerState::kRunning) {
    next.status = InstanceStatus::kStopped;
    next.desired = PowerState::kStopped;
    next.status_reason = fmt::format("host {} failed (its action on failure is Stop)", from);
    event.type = std::string(kEventFailureStop);
    event.status = std::string(kEventExecuted);
    event.finished_at = now_ms;
    event.reason = next.status_reason;
  } else {
    // It was stopped (or stopping): it stays so, and may start anywhere.
    next.status = InstanceStatus::kStopped;
    next.status_reason = fmt::format("host {} failed while it was stopped", from);
    with_event = false;
  }
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Unchanged(InstanceKey(inst.id), entry.revision));
  // The node came back meanwhile: its agent keeps the instance.
  txn.compares.push_back(etcd::Compare::Missing(NodeKey(from)));
  txn.then.push_back(etcd::TxnOp::Put(InstanceKey(inst.id), EncodeInstance(next)));
  if (with_event) {
    txn.then.push_back(etcd::TxnOp::Put(EventKey(inst.id, event.id), EncodeInstanceEvent(event)));
    for (const InstanceEvent* old : EventsToTrim(st, inst.id))
      txn.then.push_back(etcd::TxnOp::Delete(EventKey(inst.id, old->id)));
  }
  TG_CO_ASSIGN_OR_RETURN(int64_t revision, co_await Commit(std::move(txn)));
  if (revision == 0)
    co_return Aborted("recovering {}: the instance or node {} changed", inst.id, from);
  Log()->warn("instance {} taken off lost node {} (incarnation {}): {}", inst.id, from,
              next.incarnation, next.status_reason);
  if (with_event) {
    for (const InstanceEvent* old : EventsToTrim(st, inst.id)) st.events.erase(old->id);
    st.events[event.id] = {event, revision};
  }
  entry = {std::move(next), revision};
  co_return Status::Ok();
}

Task<Status> Scheduler::KeepNodeLosses(ComputeState& st, int64_t now_ms) {
  Status result;
  for (auto it = st.node_losses.begin(); it != st.node_losses.end(); ++it) {
    const auto& [name, e] = *it;
    const auto node = st.nodes.find(name);
    const bool up = node != st.nodes.end();
    NodeLoss next = e.value;
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Unchanged(NodeLossKey(name), e.revision));
    if (up && e.value.returned_at == 0) {
      next.returned_at = now_ms;  // back: its quarantine starts
      txn.compares.push_back(etcd::Compare::Unchanged(NodeKey(name), node->second.revision));
      txn.then.push_back(etcd::TxnOp::Put(NodeLossKey(name), EncodeNodeLoss(next)));
    } else if (up && now_ms - e.value.returned_at >= Millis(options_.flap_quarantine)) {
      txn.compares.push_back(etcd::Compare::Unchanged(NodeKey(name), node->second.revision));
      txn.then.push_back(etcd::TxnOp::Delete(NodeLossKey(name)));
    } else if (!up && e.value.returned_at != 0) {
      next.lost_at = now_ms;  // gone again (nothing was bound to it)
      next.returned_at = 0;
      ++next.losses;
      txn.compares.push_back(etcd::Compare::Missing(NodeKey(name)));
      txn.then.push_back(etcd::TxnOp::Put(NodeLossKey(name), EncodeNodeLoss(next)));
    } else {
      continue;
    }
    auto revision = co_await Commit(std::move(txn));
    if (term_over_) co_return revision.status();
    if (!revision.ok() || *revision == 0) {
      if (result.ok())
        result =
            revision.ok() ? Aborted("the loss of {} changed meanwhile", name) : revision.status();
      continue;
    }
    if (up && e.value.returned_at == 0) {
      Log()->info("compute node {} is back; no new instances for {} s", name,
                  Millis(options_.flap_quarantine) / 1000);
    } else if (up) {
      Log()->info("compute node {} out of its quarantine", name);
    }
  }
  co_return result;
}

Task<Status> Scheduler::FinishEvents(const ComputeState& st, int64_t now_ms) {
  Status result;
  for (const auto& [id, e] : st.events) {
    const InstanceEvent& ev = e.value;
    if (ev.status != kEventExecuting) continue;
    InstanceEvent next = ev;
    const auto inst = st.instances.find(ev.instance);
    if (ev.type == kEventLiveMigrate && inst != st.instances.end()) {
      // The agents end a migration and its event together; one whose
      // migration is gone without that ended with its host or its QEMU.
      const auto& m = inst->second.value.migration;
      if (m && m->event == ev.id) continue;
      next.status = kEventFailed;
      next.reason += "; it ended without an outcome (its host or its QEMU went)";
      next.finished_at = now_ms;
    } else if (inst == st.instances.end()) {
      next.status = std::string(kEventCanceled);
      next.reason += "; the instance was deleted";
      next.finished_at = now_ms;
    } else {
      const Instance& i = inst->second.value;
      if (i.incarnation != ev.incarnation) {
        next.status = std::string(kEventCanceled);
        next.reason += "; superseded by a later move";
        next.finished_at = now_ms;
      } else if (!i.host.empty() && i.status == InstanceStatus::kRunning) {
        next.status = std::string(kEventExecuted);
        next.to_host = i.host;
        next.finished_at = std::max(i.status_changed_at, ev.created_at);
      } else if (!i.host.empty() && i.status == InstanceStatus::kStopped) {
        next.status = kEventFailed;
        next.to_host = i.host;
        next.reason += "; " + i.status_reason;
        next.finished_at = std::max(i.status_changed_at, ev.created_at);
      } else {
        continue;  // still under way
      }
    }
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Unchanged(EventKey(ev.instance, ev.id), e.revision));
    txn.then.push_back(etcd::TxnOp::Put(EventKey(ev.instance, ev.id), EncodeInstanceEvent(next)));
    auto revision = co_await Commit(std::move(txn));
    if (term_over_) co_return revision.status();
    if (!revision.ok() || *revision == 0) {
      if (result.ok())
        result = revision.ok() ? Aborted("event {} changed meanwhile", ev.id) : revision.status();
      continue;
    }
    const double took = static_cast<double>(next.finished_at - ev.created_at) / 1000.0;
    Log()->info("event {} of {} {}: {} ({:.1f} s)", ev.id, ev.instance, next.status, next.reason,
                took);
  }
  co_return result;
}

}  // namespace tg::compute
