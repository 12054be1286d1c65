// A real etcd cluster of 1 or 3 members on free loopback ports, for tests:
// start, kill -9 one member, restart it with its data.
#pragma once

#include <memory>
#include <vector>

#include "etcd/local_etcd.h"
#include "etcd/watch.h"
#include "support/test_util.h"

namespace tg::testing {

class EtcdCluster {
 public:
  // Starts `members` members and waits until the cluster serves.
  // `extra_client_host`: an address to serve clients on besides loopback.
  EtcdCluster(asio::io_context& io, int members, std::string extra_client_host = "");
  ~EtcdCluster();

  std::vector<std::string> urls() const;
  int size() const { return static_cast<int>(members_.size()); }
  // The member index listening on "127.0.0.1:port", or -1.
  int IndexOf(const std::string& address) const;
  void Kill(int i);     // SIGKILL
  void Restart(int i);  // starts a killed member again on its data
  etcd::LocalEtcd& member(int i) { return *members_[i]; }

 private:
  asio::io_context& io_;
  TempDir dir_;
  std::vector<etcd::LocalEtcdOptions> options_;
  std::vector<std::unique_ptr<etcd::LocalEtcd>> members_;
};

// Collects `count` watch events as "key=value" into `out`; stops at the first
// error (or 30 s without an event) and leaves it in `error`.
Task<void> CollectWatchEvents(etcd::Watcher& watcher, size_t count, std::vector<std::string>& out,
                              Status& error);

// Runs the two tasks side by side on `io` until both have finished.
void RunBoth(asio::io_context& io, Task<void> a, Task<void> b);

}  // namespace tg::testing
