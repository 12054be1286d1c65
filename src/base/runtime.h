// The async runtime: one event loop (io_context) per process, run on the main
// thread, with clean shutdown on SIGINT/SIGTERM.
//
// A role (server, up, ...) is a coroutine that runs until it is done or until
// shutdown is requested; it watches `shutdown()` and stops its own work in
// order. A second SIGINT/SIGTERM ends the process at once with exit code 130.
#pragma once

#include <functional>

#include "base/async.h"
#include "base/status.h"

namespace tg {

class Runtime {
 public:
  Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Executor executor() { return io_.get_executor(); }
  asio::io_context& io() { return io_; }

  // Set when the process has been asked to stop.
  Event& shutdown() { return shutdown_; }
  void RequestShutdown() { shutdown_.Set(); }

  // Runs `main` on the loop until it returns; returns its status. Signals are
  // handled only while this runs.
  Status Run(std::function<Task<Status>()> main);

 private:
  asio::io_context io_;
  Event shutdown_;
};

// Maps a role's final status to a process exit code (0 ok, 2 bad input, 1
// anything else) and logs the error.
int ExitCode(const Status& s);

}  // namespace tg
