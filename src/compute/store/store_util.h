// What the compute store's operations share: conditions on what was read,
// and the bound on retries of a transaction that lost a race.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "etcd/client.h"

namespace tg::compute::store_util {

inline constexpr int kAttempts = 50;

inline auto Log() {
  static auto log = log::Get("compute-store");
  return log;
}

inline etcd::Compare Unchanged(std::string key, int64_t revision) {
  return etcd::Compare::ModRevision(std::move(key), etcd::Compare::Op::kEqual, revision);
}

// Rewrites a record unchanged, conditioned on its revision: two changes
// that both depend on it (an instance made from an image and the image's
// delete) cannot both commit.
inline void Pin(etcd::Txn& txn, const std::string& key, int64_t revision, std::string value) {
  txn.compares.push_back(Unchanged(key, revision));
  txn.then.push_back(etcd::TxnOp::Put(key, std::move(value)));
}

inline Status Raced(std::string_view what) {
  return Aborted("{}: the records kept changing; try again", what);
}

// Read-modify-write of the record under `key`, retried while someone else
// changed it meanwhile. `change` edits the record and may add conditions and
// writes of its own to the transaction, or returns an error to give up
// without writing. Cancelled if the record was unchanged but another
// condition failed (the caller's fence, a key it needed missing).
template <typename T>
Task<Result<T>> ChangeRecord(etcd::Client& client, std::string key, std::string what,
                             Result<T> (*decode)(std::string_view), std::string (*encode)(const T&),
                             std::function<Status(T&, etcd::Txn&)> change) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(auto got, co_await client.Get(key));
    if (got.kvs.empty()) co_return NotFound("no {}", what);
    const int64_t revision = got.kvs[0].mod_revision;
    TG_CO_ASSIGN_OR_RETURN(T v, decode(got.kvs[0].value));
    etcd::Txn txn;
    TG_CO_RETURN_IF_ERROR(change(v, txn));
    txn.compares.push_back(Unchanged(key, revision));
    txn.then.push_back(etcd::TxnOp::Put(key, encode(v)));
    txn.otherwise.push_back(etcd::TxnOp::Get(key));
    const bool more_conditions = txn.compares.size() > 1;
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
    if (r.succeeded) co_return v;
    const auto& now = r.gets[0].kvs;
    if (more_conditions && !now.empty() && now[0].mod_revision == revision)
      co_return Cancelled("{} not written: a condition of the change no longer holds", what);
  }
  co_return Raced(fmt::format("change {}", what));
}

}  // namespace tg::compute::store_util
