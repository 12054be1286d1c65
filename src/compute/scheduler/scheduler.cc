#include "compute/scheduler/scheduler.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>
#include <vector>

#include "base/log.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("scheduler");
  return log;
}

}  // namespace

Scheduler::Scheduler(etcd::Client& client, etcd::Mirror& compute_state, etcd::Compare fence,
                     SchedulerOptions options)
    : client_(client), state_(compute_state), fence_(std::move(fence)), options_(options) {}

Task<Result<int64_t>> Scheduler::Commit(etcd::Txn txn) {
  // The refused branch reads the candidate key, to tell a lost term from a
  // record that changed meanwhile.
  txn.compares.push_back(fence_);
  txn.otherwise.push_back(etcd::TxnOp::Get(fence_.key));
  TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult r, co_await client_.Commit(std::move(txn)));
  if (r.succeeded) {
    last_write_ = std::max(last_write_, r.revision);
    co_return r.revision;
  }
  const std::vector<etcd::KeyValue>& key = r.gets.back().kvs;
  if (key.empty() || key[0].create_revision != fence_.number) {
    term_over_ = true;
    co_return FailedPrecondition("write refused: this scheduler's term is over ({} is gone)",
                                 fence_.key);
  }
  co_return 0;
}

void Scheduler::ReportFailedPass(const Status& s) {
  // A pass runs on every change and every tick: the same failure is logged
  // at error level once a minute, not each time.
  const std::string text = s.ToString();
  if (text == last_reported_ && Clock::now() - last_reported_at_ < std::chrono::minutes(1)) {
    Log()->debug("pass: {}", s);
    return;
  }
  last_reported_ = text;
  last_reported_at_ = Clock::now();
  Log()->error("pass: {}", s);
}

Task<void> Scheduler::Lead(Event& stop) {
  Event& changed = state_.changed();
  Log()->info("compute scheduler leading (cpu overcommit {}, memory overcommit {})",
              options_.policy.cpu_overcommit, options_.policy.memory_overcommit);
  while (!stop.is_set() && !term_over_) {
    changed.Reset();
    if (Status s = co_await Pass(); !s.ok() && s.code() != ErrorCode::kAborted) {
      ReportFailedPass(s);
    } else {
      last_reported_.clear();
    }
    if (term_over_) break;
    co_await (changed.Wait() || SleepFor(options_.tick) || stop.Wait());
  }
  Log()->info("compute scheduler stopped");
}

Task<Status> Scheduler::Pass() {
  if (term_over_) co_return FailedPrecondition("this scheduler's term is over");
  // The copy must hold this scheduler's own last writes, or the pass would
  // try them again (and fail on their compares).
  if (!co_await state_.WaitFor(last_write_, std::chrono::seconds(2)))
    Log()->warn("records at revision {}, not yet at {}", state_.revision(), last_write_);
  last_write_ = 0;
  if (!state_.loaded()) co_return Unavailable("the compute records are not loaded yet");
  auto parsed = ParseComputeState(state_.kvs(), state_.revision());
  if (!parsed.ok()) {
    co_return parsed.status().Annotate(fmt::format(
        "compute records unreadable at revision {}, nothing is bound until the record is fixed",
        state_.revision()));
  }
  ComputeState& st = *parsed;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Status result;
  auto note = [&](const Status& s) {
    if (!s.ok() && result.ok()) result = s;
  };
  note(co_await RecoverLostNodes(st, now));
  if (term_over_) co_return result;
  Quarantine(st, now);
  KeepOffDrained(st);
  note(co_await DrainNodes(st, now));
  if (term_over_) co_return result;
  PlacementView view(st, options_.policy);

  // Restarts after a host failure: the instance's latest event is an
  // Executing redeploy of its incarnation.
  std::set<std::string> restarting;
  for (const auto& [id, e] : st.events) {
    const auto inst = st.instances.find(e.value.instance);
    if (e.value.type == kEventRedeploy && e.value.status == kEventExecuting &&
        inst != st.instances.end() && inst->second.value.incarnation == e.value.incarnation)
      restarting.insert(e.value.instance);
  }
  // Unbound deleting instances are those a failed host held: the host that
  // takes them finishes the delete.
  std::vector<ComputeState::Entry<Instance>*> pending;
  for (auto& [id, e] : st.instances) {
    const Instance& i = e.value;
    if (i.host.empty() && i.status == InstanceStatus::kPending) pending.push_back(&e);
  }
  auto order = [&](const ComputeState::Entry<Instance>* e) {
    const Instance& i = e->value;
    return std::make_tuple(!restarting.contains(i.id), -static_cast<int64_t>(i.restart_priority),
                           i.created_at, i.id);
  };
  std::sort(pending.begin(), pending.end(),
            [&](const auto* a, const auto* b) { return order(a) < order(b); });

  size_t in_flight = RestartsInFlight(st);
  for (auto* e : pending) {
    const bool restart = restarting.contains(e->value.id);
    if (restart && in_flight >= options_.max_concurrent_restarts) {
      const std::string reason =
          fmt::format("waiting to restart: {} restarts under way (at most {} at once)", in_flight,
                      options_.max_concurrent_restarts);
      note(co_await WriteReason(*e, reason));
      if (term_over_) co_return result;
      continue;
    }
    auto node = view.Choose(e->value);
    // Not one conditional of two co_awaits: GCC 12 frees its Status twice.
    Status s;
    if (node.ok()) {
      s = co_await BindInstance(st, view, *e, *node);
      if (s.ok() && restart) ++in_flight;
    } else {
      const std::string reason = node.status().message();
      s = co_await WriteReason(*e, reason);
    }
    if (term_over_) co_return s;
    note(s);
  }
  note(co_await PlaceMigrations(st, now));
  if (term_over_) co_return result;
  note(co_await KeepNodeLosses(st, now));
  if (term_over_) co_return result;
  note(co_await FinishEvents(st, now));
  if (term_over_) co_return result;
  const Status s = co_await CollectAllocations(st);
  if (term_over_) co_return s;
  note(s);
  co_return result;
}

Task<Status> Scheduler::BindInstance(ComputeState& st, PlacementView& view,
                                     ComputeState::Entry<Instance>& entry,
                                     const std::string& node) {
  const Instance& inst = entry.value;
  Instance bound = inst;
  bound.host = node;
  bound.status_reason.clear();
  auto& alloc = st.allocations[node];  // revision 0: none yet
  NodeAllocation next = alloc.value;
  next.node = node;
  next.instances[inst.id] = inst.resources;

  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Unchanged(InstanceKey(inst.id), entry.revision));
  txn.compares.push_back(etcd::Compare::Unchanged(AllocationKey(node), alloc.revision));
  txn.compares.push_back(etcd::Compare::ModRevision(NodeKey(node), etcd::Compare::Op::kEqual,
                                                    st.nodes.at(node).revision));
  txn.then.push_back(etcd::TxnOp::Put(InstanceKey(inst.id), EncodeInstance(bound)));
  txn.then.push_back(etcd::TxnOp::Put(AllocationKey(node), EncodeNodeAllocation(next)));
  TG_CO_ASSIGN_OR_RETURN(int64_t revision, co_await Commit(std::move(txn)));
  if (revision == 0)
    co_return Aborted("binding {} to {}: the instance, node or allocation changed", inst.id, node);
  // Later binds in this pass see the new allocation (and its revision).
  view.Bind(inst, node);
  alloc = {std::move(next), revision};
  const Resources used = view.used(node);
  Log()->info("bound {} to {} ({} vCPUs, {} MiB; node now {} vCPUs, {} MiB)", inst.id, node,
              inst.resources.vcpus, inst.resources.memory_mib, used.vcpus, used.memory_mib);
  entry = {std::move(bound), revision};  // as the collection below must see it
  co_return Status::Ok();
}

Task<Status> Scheduler::WriteReason(const ComputeState::Entry<Instance>& entry,
                                    const std::string& reason) {
  if (entry.value.status_reason == reason) co_return Status::Ok();
  Instance next = entry.value;
  next.status_reason = reason;
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Unchanged(InstanceKey(next.id), entry.revision));
  txn.then.push_back(etcd::TxnOp::Put(InstanceKey(next.id), EncodeInstance(next)));
  TG_CO_ASSIGN_OR_RETURN(int64_t revision, co_await Commit(std::move(txn)));
  if (revision == 0) co_return Aborted("{} changed while its reason was written", next.id);
  Log()->warn("{} stays Pending: {}", next.id, reason);
  co_return Status::Ok();
}

Task<Status> Scheduler::CollectAllocations(const ComputeState& st) {
  Status result;
  for (const auto& [node, e] : st.allocations) {
    NodeAllocation next = e.value;
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Unchanged(AllocationKey(node), e.revision));
    std::vector<std::string> gone;
    for (const auto& [id, r] : e.value.instances) {
      const auto inst = st.instances.find(id);
      const bool exists = inst != st.instances.end();
      if (exists && inst->second.value.host == node) continue;
      // Reserved for a migration here that has not ended.
      if (exists && inst->second.value.migration && inst->second.value.migration->target == node)
        continue;
      // Conditioned on the instance being as read (absent, or not bound
      // here): a create of the same id, or a bind here, in between keeps its
      // share.
      txn.compares.push_back(
          etcd::Compare::Unchanged(InstanceKey(id), exists ? inst->second.revision : 0));
      next.instances.erase(id);
      gone.push_back(id);
    }
    if (gone.empty()) continue;
    txn.then.push_back(next.instances.empty()
                           ? etcd::TxnOp::Delete(AllocationKey(node))
                           : etcd::TxnOp::Put(AllocationKey(node), EncodeNodeAllocation(next)));
    auto revision = co_await Commit(std::move(txn));
    if (term_over_) co_return revision.status();
    if (!revision.ok() || *revision == 0) {
      if (result.ok())
        result =
            revision.ok() ? Aborted("allocation of {} changed meanwhile", node) : revision.status();
      continue;
    }
    Log()->info("freed {} on {}: {} (gone, or not bound there)", gone.size(), node,
                fmt::join(gone, ", "));
  }
  co_return result;
}

}  // namespace tg::compute
