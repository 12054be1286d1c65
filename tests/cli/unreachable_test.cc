// Bad input to the binary: an unreachable or malformed etcd endpoint and bad
// flags give a clear error and a non-zero exit, never a hang or a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace tg::testing {
namespace {

TEST(Cli, UnreachableEtcdExitsNonZeroWithAClearMessage) {
  TempDir dir;
  const uint16_t port = FreePort();  // nobody listens there
  auto r = RunTiangong(dir, {"server", "--etcd", fmt::format("http://127.0.0.1:{}", port)});
  ASSERT_TRUE(WIFEXITED(r.wait_status)) << r.output;
  EXPECT_EQ(WEXITSTATUS(r.wait_status), 1) << r.output;
  EXPECT_NE(r.output.find(fmt::format("cannot reach etcd at 127.0.0.1:{}", port)),
            std::string::npos)
      << r.output;
  EXPECT_LT(r.elapsed, 30s);
}

TEST(Cli, JsonLogsAreOneValidObjectPerLine) {
  TempDir dir;
  auto r = RunTiangong(dir, {"--log-format", "json", "--log-level", "debug", "server", "--etcd",
                             fmt::format("http://127.0.0.1:{}", FreePort())});
  int json_lines = 0;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() != '{') continue;
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << line;
    EXPECT_TRUE(parsed.contains("time") && parsed.contains("level") && parsed.contains("msg"));
    ++json_lines;
  }
  EXPECT_GT(json_lines, 0) << r.output;
}

TEST(Cli, MalformedEndpointAndFlagsAreRejected) {
  TempDir dir;
  auto bad_url = RunTiangong(dir, {"server", "--etcd", "unix:///tmp/etcd.sock"});
  ASSERT_TRUE(WIFEXITED(bad_url.wait_status));
  EXPECT_EQ(WEXITSTATUS(bad_url.wait_status), 2) << bad_url.output;
  EXPECT_NE(bad_url.output.find("unknown scheme"), std::string::npos) << bad_url.output;

  auto bad_ttl = RunTiangong(dir, {"server", "--lease-ttl", "0"});
  ASSERT_TRUE(WIFEXITED(bad_ttl.wait_status));
  EXPECT_NE(WEXITSTATUS(bad_ttl.wait_status), 0);
  EXPECT_NE(bad_ttl.output.find("--lease-ttl"), std::string::npos) << bad_ttl.output;

  auto no_role = RunTiangong(dir, {});
  ASSERT_TRUE(WIFEXITED(no_role.wait_status));
  EXPECT_NE(WEXITSTATUS(no_role.wait_status), 0);

  auto help = RunTiangong(dir, {"server", "--help"});
  ASSERT_TRUE(WIFEXITED(help.wait_status));
  EXPECT_EQ(WEXITSTATUS(help.wait_status), 0);
  for (const char* flag : {"--etcd", "--name", "--lease-ttl"}) {
    EXPECT_NE(help.output.find(flag), std::string::npos) << flag << " undocumented";
  }
  auto top_help = RunTiangong(dir, {"--help"});
  for (const char* text : {"--log-level", "--log-format", "--config", "up", "server", "status"}) {
    EXPECT_NE(top_help.output.find(text), std::string::npos) << text << " undocumented";
  }
}

}  // namespace
}  // namespace tg::testing
