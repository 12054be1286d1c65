#include "base/process.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <sstream>

#include "support/test_util.h"

namespace tg {
namespace {

TEST(ChildProcess, ReportsExitCodeAndOutput) {
  testing::TempDir dir;
  std::string out = dir.path() + "/out.txt";
  auto child =
      ChildProcess::Spawn({.argv = {"sh", "-c", "echo hello; exit 3"}, .output_path = out});
  ASSERT_TRUE(child.ok()) << child.status();
  auto st = child->Wait(10s);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 3");
  std::ifstream f(out);
  std::stringstream s;
  s << f.rdbuf();
  EXPECT_EQ(s.str(), "hello\n");
}

TEST(ChildProcess, StopEscalatesAndAsyncWaitSeesExit) {
  // A child that ignores SIGTERM must still be stopped (SIGKILL after grace).
  auto stubborn = ChildProcess::Spawn({.argv = {"sh", "-c", "trap '' TERM; sleep 30"}});
  ASSERT_TRUE(stubborn.ok());
  std::this_thread::sleep_for(100ms);
  auto st = stubborn->Stop(300ms);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFSIGNALED(*st));
  EXPECT_EQ(WTERMSIG(*st), SIGKILL);

  asio::io_context io;
  auto quick = ChildProcess::Spawn({.argv = {"sleep", "0.1"}});
  ASSERT_TRUE(quick.ok());
  Status waited = testing::RunTask(io, quick->AsyncWaitExit(io.get_executor()));
  EXPECT_TRUE(waited.ok()) << waited;
  EXPECT_FALSE(quick->running());
}

TEST(ChildProcess, MissingProgramIsAnError) {
  auto child = ChildProcess::Spawn({.argv = {"/nonexistent/program"}});
  ASSERT_TRUE(child.ok());  // exec fails in the child
  auto st = child->Wait(10s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 127");
  EXPECT_FALSE(ChildProcess::Spawn({}).ok());
}

}  // namespace
}  // namespace tg
