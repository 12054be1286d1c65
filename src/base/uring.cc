#include "base/uring.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cassert>

namespace tg {

// One per operation in flight; its address is the SQE's user_data.
struct Uring::Waiter {
  int result = 0;
  std::function<void()> resume;
};

Result<std::unique_ptr<Uring>> Uring::Create(Executor ex, unsigned entries) {
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return ErrnoStatus(errno, "eventfd");
  std::unique_ptr<Uring> u(new Uring(ex, efd));
  if (int r = io_uring_queue_init(entries, &u->ring_, 0); r < 0) {
    u->ring_.ring_fd = -1;
    return ErrnoStatus(-r, "io_uring_queue_init");
  }
  if (int r = io_uring_register_eventfd(&u->ring_, efd); r < 0) {
    return ErrnoStatus(-r, "io_uring_register_eventfd");
  }
  u->tasks_.Spawn("io_uring reaper", u->Reap());
  return u;
}

Uring::Uring(Executor ex, int eventfd)
    : ex_(ex), eventfd_(eventfd), event_(ex, eventfd), tasks_(ex) {}

Uring::~Uring() {
  if (ring_.ring_fd >= 0) io_uring_queue_exit(&ring_);
  // event_ owns and closes the eventfd.
}

Task<Result<int>> Uring::Run(std::string_view what, std::function<void(io_uring_sqe*)> prep) {
  int res = co_await Submit(std::move(prep));
  if (res < 0) co_return ErrnoStatus(-res, std::string(what));
  co_return res;
}

Task<int> Uring::Submit(std::function<void(io_uring_sqe*)> prep) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    // The submission queue is full: push what is there and try once more.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
    if (!sqe) co_return -EAGAIN;
  }
  prep(sqe);
  Waiter waiter;
  io_uring_sqe_set_data(sqe, &waiter);
  ++in_flight_;
  ScheduleSubmit();
  // The waiter lives in this frame, which stays suspended until the reaper
  // has filled in the result: it cannot go away early.
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        waiter.resume = [shared] { (*shared)(); };
      },
      asio::use_awaitable);
  co_return waiter.result;
}

// Everything prepared during one turn of the event loop goes to the kernel in
// one io_uring_submit: at queue depth 32 that is one system call, not 32.
void Uring::ScheduleSubmit() {
  if (submit_scheduled_) return;
  submit_scheduled_ = true;
  asio::post(ex_, [this] {
    submit_scheduled_ = false;
    int r = io_uring_submit(&ring_);
    if (r < 0 && (r == -EAGAIN || r == -EBUSY || r == -EINTR)) ScheduleSubmit();  // try again soon
    // Page-cache hits complete inside the submit call: take them now rather
    // than a trip through the eventfd later.
    DrainCompletions();
  });
}

void Uring::DrainCompletions() {
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    auto* w = static_cast<Waiter*>(io_uring_cqe_get_data(cqe));
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    if (!w) continue;
    --in_flight_;
    w->result = res;
    // Resume through the executor, not inline: the reaper keeps reaping.
    asio::post(ex_, std::move(w->resume));
  }
}

Task<void> Uring::Reap() {
  for (;;) {
    boost::system::error_code ec;
    co_await event_.async_wait(asio::posix::descriptor::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    uint64_t count;
    [[maybe_unused]] auto n = ::read(eventfd_, &count, sizeof count);
    DrainCompletions();
  }
}

Task<void> Uring::Stop() {
  // A waiter still in flight would never be resumed once the reaper is gone.
  assert(in_flight_ == 0 && "Uring::Stop with operations in flight");
  event_.cancel();
  tasks_.CancelAll();
  co_await tasks_.Close();
}

}  // namespace tg
