// Small helpers shared by the tests: temporary directories, free loopback
// ports, and running a coroutine to completion on a fresh event loop.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "base/async.h"
#include "base/status.h"

namespace tg::testing {

// A fresh directory under the system temp dir, removed when destroyed.
class TempDir {
 public:
  // Under the system's temporary directory, or under `parent` if given.
  explicit TempDir(const std::string& parent = "");
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t FreePort();

// Runs `task` on `io` until it completes and returns its value.
template <typename T>
T RunTask(asio::io_context& io, Task<T> task) {
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    out.emplace(std::move(v));
  });
  io.restart();
  while (!out && !error) io.run_one();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}
void RunTask(asio::io_context& io, Task<void> task);

// The built tiangong binary (set by CTest in TG_TIANGONG_BINARY).
std::string TiangongBinary();
// A binary built in the same directory as the running test.
std::string SiblingBinary(const std::string& name);

// Monotonic nanoseconds, comparable across processes on this host.
int64_t MonotonicNanos();

}  // namespace tg::testing

#define ASSERT_OK(expr)                                     \
  do {                                                      \
    const ::tg::Status& _s = (expr);                        \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                     \
  do {                                                      \
    const ::tg::Status& _s = (expr);                        \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)

// Assertions for coroutine bodies (gtest's ASSERT_* use `return`).
#define CO_ASSERT_TRUE(cond)                        \
  if (!static_cast<bool>(cond)) {                   \
    ADD_FAILURE() << "Assertion failed: " << #cond; \
    co_return;                                      \
  } else                                            \
    (void)0
#define CO_ASSERT_OK(expr)                                     \
  if (const ::tg::Status& _co_s = (expr); !_co_s.ok()) {       \
    ADD_FAILURE() << #expr << " failed: " << _co_s.ToString(); \
    co_return;                                                 \
  } else                                                       \
    (void)0
#define CO_ASSERT_EQ(a, b) \
  if (!((a) == (b))) {     \
    EXPECT_EQ(a, b);       \
    co_return;             \
  } else                   \
    (void)0
