// Helpers shared by every subsystem on the async runtime: sleeping, events,
// a single-consumer queue, deadlines, and retries with exponential backoff.
//
// Thread-safety: every object here belongs to one executor (one event loop) and
// must only be touched from it. Work from other threads arrives with
// asio::post(executor, ...).
#pragma once

#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <random>

#include "base/asio.h"
#include "base/status.h"

namespace tg {

// Suspends the calling coroutine for `d`. Returns false if it was cancelled.
Task<bool> SleepFor(Duration d);

// True if the calling coroutine has been asked to stop (e.g. it lost a race in
// `a || b`).
Task<bool> IsCancelled();

// A manual-reset event: Wait() completes once Set() has been called.
class Event {
 public:
  explicit Event(Executor ex) : timer_(ex, TimePoint::max()) {}
  void Set() {
    set_ = true;
    timer_.cancel();
  }
  bool is_set() const { return set_; }
  // Clears the event so that Wait() suspends again until the next Set().
  void Reset() {
    set_ = false;
    timer_.expires_at(TimePoint::max());
  }
  // Completes when the event is set, or early if the coroutine is cancelled.
  Task<void> Wait();

 private:
  bool set_ = false;
  asio::steady_timer timer_;
};

// Wakes every coroutine waiting when Notify() is called (a condition
// variable's notify_all): each looks at its condition again and, if it must,
// waits again. Unlike Event there is nothing to reset, so no waiter can
// swallow a wake meant for another that has not looked yet.
class Broadcast {
 public:
  explicit Broadcast(Executor ex) : timer_(ex, TimePoint::max()) {}
  void Notify() { timer_.cancel(); }
  // Completes at the next Notify(), or early if the coroutine is cancelled.
  Task<void> Wait();

 private:
  asio::steady_timer timer_;  // never expires; cancelling it wakes the waiters
};

// An unbounded queue with one consumer coroutine. Push() never blocks; Pop()
// suspends until an item arrives or the queue is closed (then nullopt).
template <typename T>
class AsyncQueue {
 public:
  explicit AsyncQueue(Executor ex) : timer_(ex, TimePoint::max()) {}

  void Push(T item) {
    items_.push_back(std::move(item));
    timer_.cancel();
  }
  void Close() {
    closed_ = true;
    timer_.cancel();
  }
  bool closed() const { return closed_; }
  size_t size() const { return items_.size(); }

  // Takes an item if one is waiting, without suspending.
  std::optional<T> TryPop() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  Task<std::optional<T>> Pop() {
    while (items_.empty() && !closed_) {
      timer_.expires_at(TimePoint::max());
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (items_.empty() && co_await IsCancelled()) co_return std::nullopt;
    }
    if (items_.empty()) co_return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    co_return item;
  }

 private:
  std::deque<T> items_;
  bool closed_ = false;
  asio::steady_timer timer_;
};

// A gate for background coroutines (after seastar's gate): Spawn() starts a
// task, CancelAll() asks every running task to stop, Join() waits until all have
// ended, Close() refuses new tasks from then on and waits like Join(). A task
// spawned after Close() began is refused (Spawn returns false and logs it), so
// nothing starts behind a shutdown that no longer waits for it.
// REQUIRES: Join() or Close() has completed before the group is destroyed.
// An exception that ends a task is logged, never propagated: background tasks
// report failures through Status values of their own.
class TaskGroup {
 public:
  explicit TaskGroup(Executor ex) : ex_(ex), idle_(ex) {}
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  // False, with the task never started, once Close() has begun.
  bool Spawn(std::string name, Task<void> task);
  void CancelAll();
  Task<void> Join();
  Task<void> Close();
  bool closed() const { return closed_; }
  size_t running() const { return running_.size(); }

 private:
  struct Running {
    std::string name;
    asio::cancellation_signal cancel;
  };
  Executor ex_;
  std::list<Running> running_;  // std::list: signals must not move while in use
  Broadcast idle_;              // notified when the last task ends
  bool closed_ = false;
};

// Runs `op` but gives up after `timeout`: the operation is cancelled and the
// result is DeadlineExceeded("<what> timed out after N ms").
template <typename T>
Task<Result<T>> WithTimeout(Duration timeout, std::string_view what, Task<Result<T>> op) {
  auto outcome = co_await (std::move(op) || SleepFor(timeout));
  if (outcome.index() == 0) co_return std::move(std::get<0>(outcome));
  co_return DeadlineExceeded(
      "{} timed out after {} ms", what,
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
}
Task<Status> WithTimeout(Duration timeout, std::string_view what, Task<Status> op);

// Exponential backoff with full jitter: each delay is uniform in
// [initial*multiplier^n / 2, initial*multiplier^n], capped at `max`.
struct BackoffPolicy {
  Duration initial = 50ms;
  Duration max = 2s;
  double multiplier = 2.0;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {});
  Duration Next();
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  int attempt_ = 0;
  std::minstd_rand rng_;
};

struct RetryPolicy {
  BackoffPolicy backoff;
  Duration budget = 10s;  // give up once this much time has passed in total
  int max_attempts = 0;   // 0: no limit other than the budget
  // Which failures are worth another try; by default Unavailable and
  // DeadlineExceeded.
  std::function<bool(const Status&)> retryable;
};

bool IsTransient(const Status& s);

// Calls `attempt` until it succeeds, fails with a non-retryable error, or the
// policy runs out; the last error is returned, annotated with the attempt count.
template <typename T>
Task<Result<T>> Retry(RetryPolicy policy, std::function<Task<Result<T>>()> attempt) {
  Backoff backoff(policy.backoff);
  auto retryable = policy.retryable ? policy.retryable : IsTransient;
  const TimePoint give_up = Clock::now() + policy.budget;
  for (;;) {
    Result<T> r = co_await attempt();
    if (r.ok() || !retryable(r.status())) co_return r;
    Duration delay = backoff.Next();
    bool out_of_attempts = policy.max_attempts > 0 && backoff.attempts() >= policy.max_attempts;
    if (out_of_attempts || Clock::now() + delay > give_up) {
      co_return r.status().Annotate(fmt::format("gave up after {} attempts", backoff.attempts()));
    }
    if (!co_await SleepFor(delay)) co_return Cancelled("retry cancelled");
  }
}

}  // namespace tg
