// A small async QMP client: QEMU's machine protocol over a Unix socket
// (greeting, qmp_capabilities, commands matched to replies by id, events in
// a queue). One connection at a time is what QEMU serves per monitor; a node
// agent that restarts connects again and takes the instance back.
//
// Thread-safety: belongs to one executor.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/async.h"
#include "base/status.h"

namespace tg::compute {

struct QmpEvent {
  std::string name;  // "SHUTDOWN", "DEVICE_DELETED", "RESET", ...
  nlohmann::json data;
  int64_t seconds = 0, microseconds = 0;  // QEMU's timestamp
};

class QmpClient {
 public:
  // Connects, reads the greeting and negotiates capabilities. Unavailable if
  // nothing listens (or the greeting does not come within `timeout`),
  // InvalidArgument if the peer does not speak QMP.
  static Task<Result<std::unique_ptr<QmpClient>>> Connect(Executor ex, std::string socket_path,
                                                          Duration timeout);
  ~QmpClient();

  // Runs `command` with `arguments` (an object, or null for none); the
  // reply's "return" value, or the error QEMU gave (FailedPrecondition with
  // its class and description), Unavailable if the connection ended first,
  // DeadlineExceeded after `timeout`. Commands may be in flight at once.
  Task<Result<nlohmann::json>> Execute(std::string command, nlohmann::json arguments = nullptr,
                                       Duration timeout = std::chrono::seconds(10));

  // The next event (in arrival order); nullopt once the connection has ended
  // and every event before the end has been taken.
  Task<std::optional<QmpEvent>> NextEvent();
  // Waits (up to `timeout`) for an event that `match` accepts, dropping the
  // others it sees meanwhile; nullopt on timeout or end.
  Task<std::optional<QmpEvent>> WaitForEvent(std::function<bool(const QmpEvent&)> match,
                                             Duration timeout);

  // True until the peer closes (QEMU exited) or Close().
  bool connected() const;
  // Set once the connection has ended.
  Event& closed();
  void Close();

 private:
  struct Impl;
  explicit QmpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tg::compute
