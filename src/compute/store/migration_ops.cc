// Live migrations, as the store writes them: the user's request and cancel,
// and the agents' steps (phase by phase, then the end, with the instance
// and its event changed in one transaction). instance.h has the phases.
#include <chrono>

#include "compute/store/compute_store.h"
#include "compute/store/store_util.h"
#include "network/model/ids.h"

namespace tg::compute {

using namespace store_util;

namespace {

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status MigrationIs(const Instance& v, const std::string& event) {
  if (!v.migration || v.migration->event != event)
    return FailedPrecondition("instance {}: migration {} is no longer under way", v.id, event);
  return Status::Ok();
}

}  // namespace

Status RefuseWhileMigrating(const Instance& v) {
  if (!v.migration) return Status::Ok();
  return FailedPrecondition(
      "IncorrectInstanceStatus: instance {} is being migrated to another host; wait for it, or "
      "cancel the migration",
      v.id);
}

Task<Result<Migration>> ComputeStore::MigrateInstance(std::string id, MigrateRequest request) {
  if (!request.target.empty()) {
    auto node = co_await client_.Get(NodeKey(request.target));
    TG_CO_RETURN_IF_ERROR(node.status());
    if (node->kvs.empty()) co_return NotFound("no compute node {} is up", request.target);
  }
  Migration made;
  std::function<Status(Instance&, etcd::Txn&)> ask = [&](Instance& v, etcd::Txn& txn) {
    TG_ASSIGN_OR_RETURN(InstanceEvent event,
                        BeginMigration(v, request, "live migration requested", NowMillis()));
    made = *v.migration;
    txn.then.push_back(etcd::TxnOp::Put(EventKey(id, event.id), EncodeInstanceEvent(event)));
    return Status::Ok();
  };
  TG_CO_RETURN_IF_ERROR((co_await ChangeInstance(id, std::move(ask))).status());
  Log()->info("instance {}: live migration {} requested from {}{}", id, made.event, made.source,
              made.target.empty() ? "" : " to " + made.target);
  co_return made;
}

Task<Status> ComputeStore::CancelMigration(std::string id) {
  std::function<Status(Instance&)> cancel = [&](Instance& v) {
    if (!v.migration) return FailedPrecondition("instance {} is not being migrated", id);
    v.migration->phase = MigrationPhase::kCancelling;
    return Status::Ok();
  };
  co_return (co_await UpdateInstance(id, cancel)).status();
}

Task<Status> ComputeStore::AdvanceMigration(const std::string& id, const std::string& event,
                                            MigrationPhase from,
                                            std::function<void(Migration&)> change) {
  std::function<Status(Instance&)> step = [&](Instance& v) {
    TG_RETURN_IF_ERROR(MigrationIs(v, event));
    if (v.migration->phase != from)
      return FailedPrecondition("instance {}: migration {} is {}, not {}", id, event,
                                MigrationPhaseName(v.migration->phase), MigrationPhaseName(from));
    change(*v.migration);
    return Status::Ok();
  };
  co_return (co_await UpdateInstance(id, step)).status();
}

Task<Status> ComputeStore::EndMigration(const std::string& id, const std::string& event,
                                        MigrationEnd end, std::string reason) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const std::string event_key = EventKey(id, event);
    TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_.Get(event_key));
    std::optional<InstanceEvent> ev;
    int64_t event_revision = 0;
    if (!got.kvs.empty()) {
      TG_CO_ASSIGN_OR_RETURN(ev, DecodeInstanceEvent(got.kvs[0].value));
      event_revision = got.kvs[0].mod_revision;
    }
    std::function<Status(Instance&, etcd::Txn&)> finish = [&](Instance& v, etcd::Txn& txn) {
      TG_RETURN_IF_ERROR(MigrationIs(v, event));
      const std::string to = v.migration->target;
      if (end == MigrationEnd::kSwitched) {
        v.host = to;
        v.status = InstanceStatus::kRunning;
        v.status_reason.clear();
        v.status_changed_at = NowMillis();
      }
      v.migration.reset();
      if (!ev) return Status::Ok();  // trimmed: the instance's change still holds
      InstanceEvent next = *ev;
      next.status = std::string(end == MigrationEnd::kSwitched   ? kEventExecuted
                                : end == MigrationEnd::kCanceled ? kEventCanceled
                                                                 : kEventFailed);
      next.reason = reason;
      next.to_host = to;
      next.finished_at = NowMillis();
      txn.compares.push_back(Unchanged(event_key, event_revision));
      txn.then.push_back(etcd::TxnOp::Put(event_key, EncodeInstanceEvent(next)));
      return Status::Ok();
    };
    auto r = co_await ChangeInstance(id, std::move(finish));
    if (r.status().code() == ErrorCode::kCancelled) continue;  // the event changed: read it again
    co_return r.status();
  }
  co_return Raced("end the migration");
}

Task<Status> ComputeStore::NoteMigrationFigures(const std::string& id, const std::string& event,
                                                uint64_t total_ms, uint64_t downtime_ms,
                                                uint64_t transferred_bytes) {
  std::function<Status(InstanceEvent&, etcd::Txn&)> note = [&](InstanceEvent& e, etcd::Txn&) {
    if (e.instance != id) return InvalidArgument("event {} is of instance {}", event, e.instance);
    e.migration_total_ms = total_ms;
    e.migration_downtime_ms = downtime_ms;
    e.migration_transferred_bytes = transferred_bytes;
    return Status::Ok();
  };
  co_return (co_await ChangeRecord<InstanceEvent>(
                 client_, EventKey(id, event), fmt::format("event {}", event), DecodeInstanceEvent,
                 EncodeInstanceEvent, std::move(note)))
      .status();
}

}  // namespace tg::compute
