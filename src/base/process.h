// Child processes: the managed etcd of `tiangong up`, and the processes that
// tests start. A child is started with PR_SET_PDEATHSIG, so it dies with its
// parent and never outlives a crashed or killed tiangong.
//
// Thread-compatible: one owner at a time.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/asio.h"
#include "base/status.h"

namespace tg {

struct SpawnOptions {
  std::vector<std::string> argv;       // argv[0] is looked up in PATH
  std::string output_path;             // stdout and stderr go here (appended); empty: inherit
  std::vector<std::string> extra_env;  // "NAME=value" added to the environment
};

class ChildProcess {
 public:
  static Result<ChildProcess> Spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  // Kills (SIGKILL, its whole process group) and reaps a child still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();  // false once it has exited (reaps it)
  Status Signal(int signo);

  // Blocks until the child exits or `timeout` passes; returns its wait status
  // (as from waitpid) or DeadlineExceeded.
  Result<int> Wait(Duration timeout);
  // SIGTERM, then SIGKILL to its process group after `grace`; returns the
  // wait status.
  Result<int> Stop(Duration grace);

  // Completes when the child exits (pidfd readable), without blocking the loop.
  Task<Status> AsyncWaitExit(Executor ex);

 private:
  ChildProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  void Reap(int wait_status);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_status_;
};

// "exited with code 1" / "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace tg
