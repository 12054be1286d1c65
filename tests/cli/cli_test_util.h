// Running the tiangong binary from tests and reading what it printed.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "base/process.h"
#include "support/test_util.h"

namespace tg::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Waits until `path` contains `needle`; false on timeout.
inline bool WaitForText(const std::string& path, const std::string& needle, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (ReadFile(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

struct RunResult {
  int wait_status = -1;
  std::string output;
  Duration elapsed{};
};

// Runs tiangong with `args` to completion (at most `timeout`).
inline RunResult RunTiangong(const TempDir& dir, std::vector<std::string> args,
                             Duration timeout = 60s) {
  static int counter = 0;
  std::string out = fmt::format("{}/run{}.out", dir.path(), counter++);
  args.insert(args.begin(), TiangongBinary());
  RunResult r;
  const TimePoint start = Clock::now();
  auto child = ChildProcess::Spawn({.argv = args, .output_path = out});
  if (!child.ok()) return r;
  auto st = child->Wait(timeout);
  r.elapsed = Clock::now() - start;
  if (st.ok()) r.wait_status = *st;
  r.output = ReadFile(out);
  return r;
}

}  // namespace tg::testing
