#include "etcd/election.h"

#include "base/log.h"
#include "etcd/watch.h"

namespace tg::etcd {

namespace {
auto Log() {
  static auto log = log::Get("election");
  return log;
}
}  // namespace

Election::Election(Client& client, std::string name, std::string value, std::chrono::seconds ttl)
    : client_(client),
      name_(std::move(name)),
      value_(std::move(value)),
      ttl_(ttl),
      no_keeper_lost_(client.executor()) {}

Election::~Election() = default;

TimePoint Election::leader_until() const {
  return is_leader() ? keeper_->valid_until() : TimePoint::min();
}

Event& Election::lost() {
  return keeper_ ? keeper_->lost() : no_keeper_lost_;
}

Compare Election::OwnerCompare() const {
  // A missing key compares as create revision 0, so before any campaign this
  // asks for a revision below 0: never true.
  if (key_revision_ == 0) return Compare::CreateRevision(Prefix(name_), Compare::Op::kLess, 0);
  return Compare::CreateRevision(key_, Compare::Op::kEqual, key_revision_);
}

Task<Status> Election::Campaign() {
  if (is_leader()) co_return Status::Ok();
  if (keeper_) {
    // A previous campaign's lease is gone or going: start afresh.
    co_await keeper_->Stop();
    keeper_.reset();
  }
  leading_ = false;
  key_revision_ = 0;
  TG_CO_ASSIGN_OR_RETURN(keeper_, co_await LeaseKeeper::Start(client_, ttl_));
  key_ = fmt::format("{}{:016x}", Prefix(name_), keeper_->id());

  // Create our key if it is not there yet (a retried attempt may have made it).
  Txn txn;
  txn.compares.push_back(Compare::Missing(key_));
  txn.then.push_back(TxnOp::Put(key_, value_, keeper_->id()));
  txn.otherwise.push_back(TxnOp::Get(key_));
  TG_CO_ASSIGN_OR_RETURN(TxnResult r, co_await client_.Commit(txn));
  int64_t my_revision = r.revision;
  if (!r.succeeded) {
    if (r.gets.empty() || r.gets[0].kvs.empty()) co_return Aborted("campaign key vanished");
    my_revision = r.gets[0].kvs[0].create_revision;
  }
  key_revision_ = my_revision;
  Log()->info("campaigning election={} key={} revision={}", name_, key_, my_revision);

  auto waited = co_await (WaitForPredecessors(my_revision) || keeper_->lost().Wait());
  if (waited.index() == 1 || !keeper_->alive()) {
    co_return Unavailable("election {}: lease lost while waiting to lead", name_);
  }
  TG_CO_RETURN_IF_ERROR(std::get<0>(waited));
  leading_ = true;
  Log()->info("elected election={} value={} key={}", name_, value_, key_);
  co_return Status::Ok();
}

Task<Status> Election::WaitForPredecessors(int64_t my_revision) {
  for (;;) {
    // The candidate created just before us, if any.
    TG_CO_ASSIGN_OR_RETURN(
        GetResult ahead,
        co_await client_.Get(Prefix(name_), {.prefix = true,
                                             .limit = 1,
                                             .max_create_revision = my_revision - 1,
                                             .sort = GetOptions::Sort::kByCreateRevision,
                                             .descending = true}));
    if (ahead.kvs.empty()) co_return Status::Ok();
    const std::string& other = ahead.kvs[0].key;
    Log()->debug("waiting election={} behind={}", name_, other);
    Watcher watcher(client_, other, {.start_revision = ahead.revision + 1});
    for (;;) {
      TG_CO_ASSIGN_OR_RETURN(WatchBatch batch, co_await watcher.Next());
      bool deleted = false;
      for (const auto& ev : batch.events) deleted |= ev.type == WatchEvent::Type::kDelete;
      if (deleted) break;
    }
  }
}

Task<Status> Election::Resign() {
  if (!keeper_) co_return Status::Ok();
  const bool was_leading = leading_;
  leading_ = false;
  Status s = co_await keeper_->Revoke();
  keeper_.reset();
  if (was_leading) Log()->info("resigned election={} value={}", name_, value_);
  co_return s;
}

namespace {

// The earliest-created candidate key, read together with the store revision.
Task<Result<GetResult>> ReadFirstCandidate(Client& client, const std::string& name) {
  return client.Get(Election::Prefix(name),
                    {.prefix = true, .limit = 1, .sort = GetOptions::Sort::kByCreateRevision});
}

LeaderInfo ToLeaderInfo(const KeyValue& kv) {
  return LeaderInfo{.key = kv.key, .value = kv.value, .create_revision = kv.create_revision};
}

}  // namespace

Task<Result<LeaderInfo>> Election::Leader(Client& client, const std::string& name) {
  TG_CO_ASSIGN_OR_RETURN(GetResult r, co_await ReadFirstCandidate(client, name));
  if (r.kvs.empty()) co_return NotFound("election {} has no leader", name);
  co_return ToLeaderInfo(r.kvs[0]);
}

Election::Observer::Observer(Client& client, std::string name)
    : client_(client), name_(std::move(name)) {}

Task<Result<std::optional<LeaderInfo>>> Election::Observer::Next() {
  for (;;) {
    if (watcher_) TG_CO_RETURN_IF_ERROR((co_await watcher_->Next()).status());
    TG_CO_ASSIGN_OR_RETURN(GetResult r, co_await ReadFirstCandidate(client_, name_));
    if (!watcher_) {
      // Watch from just after the read, so no change slips between the two.
      watcher_ = std::make_unique<Watcher>(
          client_, Prefix(name_), WatchOptions{.prefix = true, .start_revision = r.revision + 1});
    }
    std::optional<std::string> key;
    if (!r.kvs.empty()) key = r.kvs[0].key;
    if (!first_ && key == last_key_) continue;  // a change behind the leader
    first_ = false;
    last_key_ = key;
    if (r.kvs.empty()) co_return std::optional<LeaderInfo>();
    co_return std::optional<LeaderInfo>(ToLeaderInfo(r.kvs[0]));
  }
}

}  // namespace tg::etcd
