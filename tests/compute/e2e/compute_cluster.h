// The compute end-to-end harness: a whole cloud of real processes on one
// machine. etcd, one or more `tiangong server` (the scheduler and the
// storage master) and three chunkservers run here; each "host" is a network
// namespace on a bridge (tests/network/underlay.h) running `tiangong node
// --vswitch --compute`, whose instances are QEMU guests under TCG booting
// the small instance image (tests/guest/build-disk-image) through the
// firmware from their distributed volumes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "compute/model/compute_state.h"
#include "network/model/network_state.h"
#include "network/underlay.h"
#include "storage/storage_cluster.h"

namespace tg::testing {

class ComputeCluster {
 public:
  ComputeCluster(asio::io_context& io, int hosts, int servers = 1);
  ~ComputeCluster();

  bool ok() const { return net_.ok(); }
  StorageCluster& storage() { return *storage_; }
  Underlay& net() { return net_; }
  const std::string& dir() const { return dir_.path(); }
  std::string etcd_url() const;  // as the hosts reach it

  // `tiangong node` of host i (1-based), named h<i>, in its namespace.
  Status StartNode(int i, std::vector<std::string> more = {});
  void KillNode(int i);  // SIGKILL: its guests (QEMU) run on
  // SIGKILL to every QEMU under host i's instance directory (the ones the
  // test made: their pid files name them); how many.
  int KillQemus(int i);
  std::string NodeLog(int i) const;
  std::string InstanceDir(int host) const;
  // Where an instance's run directory is on its host.
  std::string RunDir(int host, const std::string& id) const;

  // Runs `tiangong ARGS --etcd URL` (ARGS as given) and returns its standard
  // output, or its output in the error if it fails.
  Task<Result<std::string>> Cli(std::vector<std::string> args);
  // The first word of what a create command printed: the new id.
  Task<Result<std::string>> CliId(std::vector<std::string> args);

  Task<Result<compute::ComputeState>> ReadCompute();
  Task<Result<network::NetworkState>> ReadNetwork();
  // Until the instance has `status` (and, if given, its reason contains
  // `reason`), or the time is up: the record then.
  Task<Result<compute::Instance>> WaitForStatus(const std::string& id,
                                                compute::InstanceStatus status, Duration timeout,
                                                std::string reason = "");
  Task<Status> WaitForNodes(int count, Duration timeout);
  // Until the instance's record is gone.
  Task<Status> WaitGone(const std::string& id, Duration timeout);

  // The boot image and a VPC to put instances in, imported / made once.
  struct Network {
    std::string vpc, vswitch, sg;
  };
  Task<Result<std::string>> ImportImage(const std::string& name = "busybox");
  // The file ImportImage imported as `name`.
  std::string ImportedImageFile(const std::string& name = "busybox") const;
  Task<Result<Network>> MakeNetwork(const std::string& cidr = "192.168.0.0/16",
                                    const std::string& subnet = "192.168.1.0/24");

 private:
  asio::io_context& io_;
  Underlay net_;
  TempDir dir_;
  std::unique_ptr<StorageCluster> storage_;
  std::vector<std::optional<ChildProcess>> nodes_;
};

// The serial console of a running instance (its QEMU's console socket).
// One client at a time: the harness holds it only while a test talks to
// the guest.
class GuestConsole {
 public:
  static Result<GuestConsole> Connect(const std::string& run_dir, Duration timeout);
  GuestConsole(GuestConsole&&) noexcept;
  ~GuestConsole();
  // Types `command` and returns what it printed, once it has finished
  // (its exit code is appended on a line "TG-EXIT n").
  Result<std::string> Run(const std::string& command, Duration timeout);

 private:
  explicit GuestConsole(int fd) : fd_(fd) {}
  bool Read(std::string& seen, Duration wait);
  Status WaitForPrompt(Duration timeout);
  int fd_ = -1;
  int serial_ = 0;
};

// Until `text` appears in the instance's console log `times` times (the log
// keeps every boot's output), or the time is up.
bool WaitForConsole(const std::string& run_dir, const std::string& text, Duration timeout,
                    size_t times = 1);
std::string ConsoleLog(const std::string& run_dir);

// The small instance image, built once (tests/guest/build-disk-image).
Result<std::string> BuildInstanceImage(const std::string& log);

}  // namespace tg::testing
