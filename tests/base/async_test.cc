#include "base/async.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace tg {
namespace {

using testing::RunTask;

TEST(Backoff, GrowsWithJitterAndCaps) {
  Backoff b({.initial = 100ms, .max = 1s, .multiplier = 2.0});
  Duration expected_ceiling = 100ms;
  for (int i = 0; i < 8; ++i) {
    Duration d = b.Next();
    EXPECT_LE(d, expected_ceiling) << "attempt " << i;
    EXPECT_GE(d, expected_ceiling / 2) << "attempt " << i;
    expected_ceiling = std::min<Duration>(expected_ceiling * 2, 1s);
  }
  b.Reset();
  EXPECT_LE(b.Next(), 100ms);
}

TEST(Retry, RetriesTransientErrorsThenSucceeds) {
  asio::io_context io;
  int calls = 0;
  auto r = RunTask(io, Retry<int>({.backoff = {.initial = 1ms, .max = 5ms}, .budget = 5s},
                                  [&]() -> Task<Result<int>> {
                                    if (++calls < 4) co_return Unavailable("not yet");
                                    co_return 42;
                                  }));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 4);
}

TEST(Retry, StopsOnPermanentErrorAndOnBudget) {
  asio::io_context io;
  int calls = 0;
  auto permanent = RunTask(
      io, Retry<int>({.backoff = {.initial = 1ms}, .budget = 5s}, [&]() -> Task<Result<int>> {
        ++calls;
        co_return InvalidArgument("bad");
      }));
  EXPECT_EQ(permanent.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(calls, 1);

  auto start = Clock::now();
  auto exhausted =
      RunTask(io, Retry<int>({.backoff = {.initial = 10ms, .max = 20ms}, .budget = 200ms},
                             []() -> Task<Result<int>> { co_return Unavailable("down"); }));
  EXPECT_EQ(exhausted.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(exhausted.status().message().find("gave up after"), std::string::npos);
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST(WithTimeout, CancelsASlowOperation) {
  asio::io_context io;
  auto slow = []() -> Task<Result<int>> {
    co_await SleepFor(10s);
    co_return 1;
  };
  auto start = Clock::now();
  auto r = RunTask(io, WithTimeout<int>(50ms, "slow thing", slow()));
  EXPECT_EQ(r.status().code(), ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(r.status().message(), "slow thing timed out after 50 ms");
  EXPECT_LT(Clock::now() - start, 2s);

  auto fast = []() -> Task<Result<int>> { co_return 7; };
  auto ok = RunTask(io, WithTimeout<int>(1s, "fast thing", fast()));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
}

TEST(AsyncQueue, DeliversInOrderAcrossSuspensionAndClose) {
  asio::io_context io;
  AsyncQueue<int> q(io.get_executor());
  std::vector<int> got;
  bool consumer_done = false;
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        while (auto v = co_await q.Pop()) got.push_back(*v);
        consumer_done = true;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        for (int i = 0; i < 5; ++i) {
          q.Push(i);
          if (i % 2) co_await SleepFor(1ms);
        }
        q.Close();
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(consumer_done);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4}));
}

Task<void> SleepThenCount(int& finished) {
  co_await SleepFor(60s);
  ++finished;
}

TEST(TaskGroup, CancelAllStopsSleepersAndJoinWaits) {
  asio::io_context io;
  TaskGroup group(io.get_executor());
  int finished = 0;
  for (int i = 0; i < 3; ++i) group.Spawn("sleeper", SleepThenCount(finished));
  auto start = Clock::now();
  RunTask(io, [&]() -> Task<void> {
    co_await SleepFor(10ms);
    EXPECT_EQ(group.running(), 3u);
    group.CancelAll();
    co_await group.Join();
  }());
  EXPECT_EQ(group.running(), 0u);
  EXPECT_EQ(finished, 3);  // each woke early and ran to its end
  EXPECT_LT(Clock::now() - start, 5s);
}

Task<void> SleepBriefly() {
  co_await SleepFor(50ms);
}

Task<void> JoinAndCount(TaskGroup& group, int& joined) {
  co_await group.Join();
  ++joined;
}

// Two waiters of one group (a server's run loop and its Stop()) used to wake
// each other in turn until the group emptied: each re-armed the shared timer,
// which cancels the other's wait.
TEST(TaskGroup, TwoJoinersSleepUntilTheGroupEmpties) {
  asio::io_context io;
  TaskGroup group(io.get_executor());
  ASSERT_TRUE(group.Spawn("sleeper", SleepBriefly()));
  int joined = 0;
  asio::co_spawn(io, JoinAndCount(group, joined), asio::detached);
  asio::co_spawn(io, JoinAndCount(group, joined), asio::detached);
  const size_t handlers = io.run();
  EXPECT_EQ(joined, 2);
  EXPECT_LT(handlers, 100u) << "the joiners spun while the task slept";
}

Task<void> CountRun(int& runs) {
  ++runs;
  co_return;
}

Task<void> CloseThenSpawn(TaskGroup& group, int& runs, bool& accepted) {
  co_await group.Close();
  accepted = group.Spawn("late", CountRun(runs));
}

TEST(TaskGroup, ClosedGroupRefusesNewTasks) {
  asio::io_context io;
  TaskGroup group(io.get_executor());
  int runs = 0;
  ASSERT_TRUE(group.Spawn("early", CountRun(runs)));
  bool accepted = true;
  RunTask(io, CloseThenSpawn(group, runs, accepted));
  io.restart();
  io.run();
  EXPECT_TRUE(group.closed());
  EXPECT_FALSE(accepted);
  EXPECT_EQ(runs, 1);  // the early one ran; the refused one never started
  EXPECT_EQ(group.running(), 0u);
}

TEST(Event, WakesEveryWaiter) {
  asio::io_context io;
  Event ev(io.get_executor());
  int woken = 0;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(
        io,
        [&]() -> Task<void> {
          co_await ev.Wait();
          ++woken;
        },
        asio::detached);
  }
  asio::co_spawn(
      io,
      [&]() -> Task<void> {
        co_await SleepFor(5ms);
        ev.Set();
      },
      asio::detached);
  io.run();
  EXPECT_EQ(woken, 2);
  EXPECT_TRUE(ev.is_set());
}

}  // namespace
}  // namespace tg
