// A local etcd member run as a child process: the embedded store of
// `tiangong up`, and the clusters that tests start. It listens on loopback only
// and dies with its parent (see base/process.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/process.h"
#include "etcd/client.h"

namespace tg::etcd {

struct LocalEtcdOptions {
  std::string name = "tiangong";
  std::string data_dir;  // created if missing
  uint16_t client_port = 2379;
  uint16_t peer_port = 2380;
  std::string log_path;  // etcd's own output; empty: data_dir + ".log"
  std::string binary = "etcd";
  // For a multi-member cluster: "n1=http://127.0.0.1:P1,n2=..."; empty: a
  // single-member cluster of this member alone.
  std::string initial_cluster;
  bool join_existing = false;  // --initial-cluster-state existing
  // Another address to serve clients on besides loopback (e.g. a test's
  // bridge towards network namespaces); empty: loopback only.
  std::string extra_client_host;
};

class LocalEtcd {
 public:
  // Starts the member. It does not wait for it to serve: see WaitReady.
  static Result<std::unique_ptr<LocalEtcd>> Launch(LocalEtcdOptions options);
  // Starts a single member and waits until it serves requests.
  static Task<Result<std::unique_ptr<LocalEtcd>>> Start(Executor ex, LocalEtcdOptions options,
                                                        Duration timeout = 20s);
  ~LocalEtcd();

  // Waits until the member answers a linearizable read (it has a leader).
  Task<Status> WaitReady(Executor ex, Duration timeout);

  std::string client_url() const;
  const LocalEtcdOptions& options() const { return options_; }
  ChildProcess& process() { return process_; }
  // SIGTERM, then SIGKILL after `grace`.
  Status Stop(Duration grace = 10s);

 private:
  LocalEtcd(LocalEtcdOptions options, ChildProcess process)
      : options_(std::move(options)), process_(std::move(process)) {}

  LocalEtcdOptions options_;
  ChildProcess process_;
};

}  // namespace tg::etcd
