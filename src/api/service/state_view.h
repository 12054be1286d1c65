// What the handlers read: in-memory copies (etcd Mirrors) of the compute and
// network records and of the ownership registry, so that a call reads no
// record from etcd to show or check what exists. (Reading and decoding every
// record per call made DescribeInstances of 100 instances cost some 9 ms of
// the event loop.) Each copy is parsed once per change and shared, read-only,
// by every call until the next change.
//
// Consistency: before a read, the copy catches up with this server's own
// latest write under its prefix, so a call sees everything the calls this
// server finished before it wrote (read-your-writes). Writes of other servers,
// node agents and the controllers show as the watch delivers them, a few
// milliseconds later. Read-modify-write paths still read etcd itself and
// write conditioned on the revisions they read.
//
// Thread-safety: belongs to the client's executor. REQUIRES: destroyed after
// the tasks Start() spawned have ended.
#pragma once

#include <memory>

#include "api/core/error.h"
#include "compute/model/compute_state.h"
#include "etcd/client.h"
#include "etcd/mirror.h"
#include "network/model/network_state.h"

namespace tg::api {

class StateView {
 public:
  explicit StateView(etcd::Client& client);

  // Spawns in `tasks` what follows etcd (until the group cancels them).
  void Start(TaskGroup& tasks);

  // The current records, parsed; 503 if the copy cannot catch up (etcd is
  // unreachable), or the decoding error of a record that cannot be read.
  Task<ApiResult<std::shared_ptr<const compute::ComputeState>>> Compute();
  Task<ApiResult<std::shared_ptr<const network::NetworkState>>> Network();

  // The ownership records (the Registry reads them from here).
  etcd::Mirror& resources() { return resources_; }

  // How long a read waits for a copy to show this server's own writes.
  static constexpr Duration kCatchUpTimeout = 5s;

  // One copy's parse at the copy's revision (or why it failed).
  template <typename State>
  struct Parsed {
    int64_t revision = -1;
    std::shared_ptr<const State> state;
    Status error;
  };

 private:
  etcd::Mirror compute_;
  etcd::Mirror network_;
  etcd::Mirror resources_;
  Parsed<compute::ComputeState> compute_parsed_;
  Parsed<network::NetworkState> network_parsed_;
};

// Waits until `mirror` shows this server's writes under its prefix;
// Unavailable (503 ServiceUnavailable to a caller) if it does not within
// StateView::kCatchUpTimeout.
Task<Status> CatchUp(etcd::Mirror& mirror);

}  // namespace tg::api
