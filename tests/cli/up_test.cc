// `tiangong up`: the all-in-one control plane on a managed local etcd comes up,
// elects its server, accepts a second server as a standby, and shuts down
// cleanly on Ctrl-C (SIGINT), taking its etcd with it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace tg::testing {
namespace {

nlohmann::json Status(const TempDir& dir, const std::string& url) {
  auto r = RunTiangong(dir, {"--log-level", "warn", "status", "--etcd", url}, 30s);
  if (!WIFEXITED(r.wait_status) || WEXITSTATUS(r.wait_status) != 0) return r.output;
  return nlohmann::json::parse(r.output, nullptr, false);
}

TEST(Up, RunsTheControlPlaneAndStopsCleanly) {
  TempDir dir;
  const uint16_t client_port = FreePort(), peer_port = FreePort();
  const std::string url = fmt::format("http://127.0.0.1:{}", client_port);
  const std::string up_log = dir.path() + "/up.out";
  auto up = ChildProcess::Spawn(
      {.argv = {TiangongBinary(), "up", "--state-dir", dir.path() + "/state", "--etcd-client-port",
                std::to_string(client_port), "--etcd-peer-port", std::to_string(peer_port)},
       .output_path = up_log});
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_TRUE(WaitForText(up_log, "leading the controllers name=local", 60s)) << ReadFile(up_log);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/state/etcd/member"));
  // The host role too: the vSwitch and the compute node, registered.
  EXPECT_TRUE(WaitForText(up_log, "compute node registered name=local", 60s)) << ReadFile(up_log);

  // A second server joins as a hot standby.
  const std::string standby_log = dir.path() + "/standby.out";
  auto standby =
      ChildProcess::Spawn({.argv = {TiangongBinary(), "server", "--etcd", url, "--name", "standby"},
                           .output_path = standby_log});
  ASSERT_TRUE(standby.ok());
  ASSERT_TRUE(WaitForText(standby_log, "server registered name=standby", 30s))
      << ReadFile(standby_log);
  auto status = Status(dir, url);
  ASSERT_TRUE(status.is_object()) << status;
  EXPECT_EQ(status["controller_leader"], "local");
  EXPECT_EQ(status["servers"].size(), 2u) << status;

  // Ctrl-C the standby: it deregisters at once (no waiting for its lease).
  ASSERT_OK(standby->Signal(SIGINT));
  auto standby_exit = standby->Wait(20s);
  ASSERT_TRUE(standby_exit.ok());
  EXPECT_EQ(DescribeWaitStatus(*standby_exit), "exited with code 0") << ReadFile(standby_log);
  status = Status(dir, url);
  EXPECT_EQ(status["servers"].size(), 1u) << status;

  // Ctrl-C `up`: exit 0, and its etcd is gone too.
  ASSERT_OK(up->Signal(SIGINT));
  auto up_exit = up->Wait(30s);
  ASSERT_TRUE(up_exit.ok());
  EXPECT_EQ(DescribeWaitStatus(*up_exit), "exited with code 0") << ReadFile(up_log);
  EXPECT_NE(ReadFile(up_log).find("local etcd stopped"), std::string::npos) << ReadFile(up_log);
  auto after = RunTiangong(dir, {"status", "--etcd", url}, 60s);
  EXPECT_EQ(WEXITSTATUS(after.wait_status), 1) << after.output;
}

}  // namespace
}  // namespace tg::testing
