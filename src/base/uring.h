// io_uring on the async runtime: a coroutine submits one operation and
// resumes with its result, without blocking the event loop.
//
// Completions are signalled on an eventfd registered with the ring, which the
// event loop watches; a reaper coroutine hands each completion to its waiter.
// Thread-safety: one Uring belongs to one executor.
#pragma once

#include <liburing.h>

#include <functional>
#include <memory>

#include "base/async.h"
#include "base/status.h"

namespace tg {

class Uring {
 public:
  static Result<std::unique_ptr<Uring>> Create(Executor ex, unsigned entries = 256);
  ~Uring();

  // Prepares one SQE with `prep` and waits for its completion; returns the
  // CQE's result (>= 0) or the errno it carries as a Status naming `what`.
  Task<Result<int>> Run(std::string_view what, std::function<void(io_uring_sqe*)> prep);
  // The same, returning the CQE's raw result (a negative errno on failure).
  Task<int> Submit(std::function<void(io_uring_sqe*)> prep);

  // Stops the reaper. REQUIRES: no operation in flight.
  Task<void> Stop();

 private:
  struct Waiter;
  Uring(Executor ex, int eventfd);
  Task<void> Reap();
  void DrainCompletions();
  void ScheduleSubmit();

  Executor ex_;
  io_uring ring_{};
  int eventfd_ = -1;
  asio::posix::stream_descriptor event_;
  TaskGroup tasks_;
  size_t in_flight_ = 0;
  bool submit_scheduled_ = false;
};

}  // namespace tg
