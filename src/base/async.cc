#include "base/async.h"

#include "base/log.h"

namespace tg {

Task<bool> IsCancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

Task<bool> SleepFor(Duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

Task<void> Event::Wait() {
  while (!set_) {
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (co_await IsCancelled()) co_return;
  }
}

TaskGroup::~TaskGroup() {
  // Tasks still registered here would call back into freed memory.
  assert(running_.empty() && "TaskGroup destroyed before Join()");
}

bool TaskGroup::Spawn(std::string name, Task<void> task) {
  if (closed_) {
    log::Get("runtime")->warn("task {} refused: its group is closing", name);
    return false;
  }
  auto it = running_.emplace(running_.end());
  it->name = std::move(name);
  asio::co_spawn(ex_, std::move(task),
                 asio::bind_cancellation_slot(it->cancel.slot(), [this, it](std::exception_ptr e) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const boost::system::system_error& ex) {
                       if (ex.code() != asio::error::operation_aborted) {
                         log::Get("runtime")->error("task {} failed: {}", it->name, ex.what());
                       }
                     } catch (const std::exception& ex) {
                       log::Get("runtime")->error("task {} failed: {}", it->name, ex.what());
                     }
                   }
                   running_.erase(it);
                   if (running_.empty()) idle_.Notify();
                 }));
  return true;
}

void TaskGroup::CancelAll() {
  for (auto& r : running_) r.cancel.emit(asio::cancellation_type::terminal);
}

Task<void> TaskGroup::Join() {
  while (!running_.empty()) co_await idle_.Wait();
}

Task<void> Broadcast::Wait() {
  boost::system::error_code ec;
  co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

Task<void> TaskGroup::Close() {
  closed_ = true;
  co_await Join();
}

Task<Status> WithTimeout(Duration timeout, std::string_view what, Task<Status> op) {
  auto outcome = co_await (std::move(op) || SleepFor(timeout));
  if (outcome.index() == 0) co_return std::move(std::get<0>(outcome));
  co_return DeadlineExceeded(
      "{} timed out after {} ms", what,
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
}

Backoff::Backoff(BackoffPolicy policy)
    : policy_(policy), rng_(static_cast<unsigned>(Clock::now().time_since_epoch().count())) {}

Duration Backoff::Next() {
  double scale = 1.0;
  for (int i = 0; i < attempt_ && scale < 1e9; ++i) scale *= policy_.multiplier;
  ++attempt_;
  auto ceiling = std::min<Duration>(policy_.max,
                                    std::chrono::duration_cast<Duration>(policy_.initial * scale));
  std::uniform_int_distribution<Duration::rep> jitter(ceiling.count() / 2, ceiling.count());
  return Duration(jitter(rng_));
}

bool IsTransient(const Status& s) {
  return s.code() == ErrorCode::kUnavailable || s.code() == ErrorCode::kDeadlineExceeded;
}

}  // namespace tg
