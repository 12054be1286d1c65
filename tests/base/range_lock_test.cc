#include "base/range_lock.h"

#include <gtest/gtest.h>

#include <optional>

namespace tg {
namespace {

// io.poll() stops the loop when it runs out of work; later polls need a restart.
void Poll(asio::io_context& io) {
  io.restart();
  io.poll();
}

Task<void> AcquireAndKeep(RangeLock& lock, RangeLock::Range r,
                          std::optional<RangeLock::Hold>& out) {
  out.emplace(co_await lock.Acquire(r));
}

// A release wakes every waiter; a waiter still blocked used to clear the wake
// before a waiter behind it had looked, so that one slept on with its range
// free until some later release.
TEST(RangeLock, AWaiterWhoseRangeFreesUpIsNotLeftAsleep) {
  asio::io_context io;
  RangeLock lock(io.get_executor());
  std::optional<RangeLock::Hold> x, y, a, b;
  asio::co_spawn(io, AcquireAndKeep(lock, {1, 0, 1}, x), asio::detached);
  asio::co_spawn(io, AcquireAndKeep(lock, {1, 1, 2}, y), asio::detached);
  Poll(io);
  ASSERT_TRUE(x && y);
  // a waits first (for x's range), then b (for y's range).
  asio::co_spawn(io, AcquireAndKeep(lock, {1, 0, 1}, a), asio::detached);
  Poll(io);
  asio::co_spawn(io, AcquireAndKeep(lock, {1, 1, 2}, b), asio::detached);
  Poll(io);
  ASSERT_FALSE(a || b);
  x.reset();  // frees a's range only
  Poll(io);
  EXPECT_TRUE(a.has_value()) << "a's range is free but a was not woken";
  EXPECT_FALSE(b.has_value());
  y.reset();
  Poll(io);
  EXPECT_TRUE(b.has_value());
  a.reset();
  b.reset();
}

TEST(RangeLock, OtherObjectsAndDisjointRangesDoNotWait) {
  asio::io_context io;
  RangeLock lock(io.get_executor());
  std::optional<RangeLock::Hold> h1, h2, h3;
  asio::co_spawn(io, AcquireAndKeep(lock, {1, 0, 8}, h1), asio::detached);
  asio::co_spawn(io, AcquireAndKeep(lock, {1, 8, 16}, h2), asio::detached);
  asio::co_spawn(io, AcquireAndKeep(lock, {2, 0, 8}, h3), asio::detached);
  Poll(io);
  EXPECT_TRUE(h1 && h2 && h3);
}

}  // namespace
}  // namespace tg
