// Host maintenance, as the store writes it: an operator's drain of a node
// and its end. The scheduler does the moving (docs/compute.md).
#include <chrono>

#include "compute/store/compute_store.h"
#include "compute/store/store_util.h"

namespace tg::compute {

using namespace store_util;

Task<Result<NodeDrain>> ComputeStore::DrainHost(std::string node) {
  // Named first: no braced temporaries inside a co_await (GCC 12).
  std::vector<std::string> keys = {NodeKey(node), AllocationKey(node), DrainKey(node)}, prefixes;
  TG_CO_ASSIGN_OR_RETURN(auto st, co_await ReadRecords(std::move(keys), std::move(prefixes)));
  if (auto known = st.drains.find(node); known != st.drains.end()) co_return known->second.value;
  if (!st.nodes.contains(node) && !st.allocations.contains(node))
    co_return NotFound("no compute node {} is known", node);
  const NodeDrain drain{.node = node,
                        .requested_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count()};
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Missing(DrainKey(node)));
  txn.then.push_back(etcd::TxnOp::Put(DrainKey(node), EncodeNodeDrain(drain)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  if (!r.succeeded) co_return Aborted("node {} was drained meanwhile", node);
  Log()->info("compute node {} drained: its instances move away", node);
  co_return drain;
}

Task<Status> ComputeStore::UndrainHost(std::string node) {
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Delete(DrainKey(node)));
  if (r.deleted == 0) co_return NotFound("compute node {} is not drained", node);
  Log()->info("compute node {} undrained: it takes instances again", node);
  co_return Status::Ok();
}

}  // namespace tg::compute
