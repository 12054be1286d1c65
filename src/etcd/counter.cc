#include "etcd/counter.h"

#include <cstdlib>

namespace tg::etcd {

Task<Result<uint64_t>> CommitWithNextNumber(Client& client, std::string key,
                                            std::function<void(uint64_t, Txn&)> build) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(auto counter, co_await client.Get(key));
    uint64_t number = 1;
    int64_t revision = 0;
    Txn txn;
    if (counter.kvs.empty()) {
      txn.compares.push_back(Compare::Missing(key));
    } else {
      number = std::strtoull(counter.kvs[0].value.c_str(), nullptr, 10);
      revision = counter.kvs[0].mod_revision;
      txn.compares.push_back(Compare::ModRevision(key, Compare::Op::kEqual, revision));
    }
    txn.then.push_back(TxnOp::Put(key, std::to_string(number + 1)));
    txn.otherwise.push_back(TxnOp::Get(key));
    build(number, txn);
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
    if (r.succeeded) co_return number;
    const auto& now = r.gets[0].kvs;
    const int64_t now_revision = now.empty() ? 0 : now[0].mod_revision;
    if (now_revision == revision) {
      co_return FailedPrecondition("changed meanwhile");
    }
  }
  co_return Aborted("the counter {} keeps changing", key);
}

}  // namespace tg::etcd
