// The compute commands of the tiangong binary against a real storage
// cluster: an image imported and listed, an instance created (its id printed
// first), listed, shown as JSON and deleted; a bad reference fails with the
// store's error and exit code 1.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/cli_test_util.h"
#include "storage/storage_cluster.h"
#include "support/pattern.h"

namespace tg::testing {
namespace {

class ComputeCli : public ::testing::Test {
 protected:
  ComputeCli() : cluster_(io_, 1, 3) {}

  // Runs `tiangong ARGS --etcd URL`; its output, and whether it exited 0.
  std::pair<bool, std::string> Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--log-level", "warn"});
    args.push_back("--etcd");
    args.push_back(cluster_.etcd_url());
    RunResult r = RunTiangong(dir_, args, 120s);
    return {WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0, r.output};
  }
  // The first word of a successful command's output that looks like an id
  // of `prefix`.
  std::string IdFrom(const std::pair<bool, std::string>& run, const std::string& prefix) {
    EXPECT_TRUE(run.first) << run.second;
    std::smatch m;
    const std::regex id("\\b" + prefix + "-[a-z0-9]{20}\\b");
    if (!std::regex_search(run.second, m, id)) {
      ADD_FAILURE() << "no " << prefix << "- id in: " << run.second;
      return "";
    }
    return m.str();
  }

  asio::io_context io_;
  TempDir dir_;
  StorageCluster cluster_;
};

TEST_F(ComputeCli, ImportsAnImageAndCreatesListsShowsAndDeletesAnInstance) {
  ASSERT_TRUE(RunTask(io_, cluster_.WaitForLeader(30s)) >= 0);
  ASSERT_OK(RunTask(io_, cluster_.WaitRegistered(30s)));
  const std::string file = dir_.path() + "/disk.raw";
  {
    const auto bytes = PatternBytes(2 << 20, 1);
    std::ofstream(file, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  }
  const std::string vpc = IdFrom(Cli({"vpc", "create", "--cidr", "10.0.0.0/16"}), "vpc");
  const std::string vsw = IdFrom(
      Cli({"vswitch", "create", "--vpc", vpc, "--cidr", "10.0.1.0/24", "--zone", "z1"}), "vsw");
  ASSERT_FALSE(vsw.empty());

  auto import = Cli({"image", "import", "base", file, "--platform", "Debian"});
  const std::string image = IdFrom(import, "m");
  EXPECT_TRUE(import.second.starts_with(image)) << import.second;
  auto images = Cli({"image", "list"});
  ASSERT_TRUE(images.first) << images.second;
  EXPECT_NE(images.second.find(image), std::string::npos) << images.second;
  EXPECT_NE(images.second.find("Available"), std::string::npos) << images.second;
  auto types = Cli({"type", "list"});
  EXPECT_NE(types.second.find("ecs.t6-c1m1.small"), std::string::npos) << types.second;

  auto create =
      Cli({"instance", "create", "--type", "ecs.t6-c1m1.small", "--image", "base", "--vswitch", vsw,
           "--name", "web", "--system-disk-size", "8M", "--data-disk", "4M"});
  const std::string instance = IdFrom(create, "i");
  ASSERT_FALSE(instance.empty());
  EXPECT_TRUE(create.second.starts_with(instance)) << "the id comes first: " << create.second;
  auto list = Cli({"instance", "list"});
  ASSERT_TRUE(list.first) << list.second;
  EXPECT_NE(list.second.find(instance), std::string::npos) << list.second;
  EXPECT_NE(list.second.find("10.0.1.1"), std::string::npos) << list.second;
  auto show = Cli({"instance", "show", instance});
  ASSERT_TRUE(show.first) << show.second;
  const nlohmann::json j = nlohmann::json::parse(show.second, nullptr, false);
  ASSERT_TRUE(j.is_object()) << show.second;
  EXPECT_EQ(j.value("id", ""), instance);
  EXPECT_EQ(j.value("name", ""), "web");
  ASSERT_EQ(j["disks"].size(), 2u);
  EXPECT_EQ(j["disks"][0].value("size", 0u), 8u << 20);
  ASSERT_EQ(j["interfaces"].size(), 1u);
  EXPECT_EQ(j["interfaces"][0].value("ip", ""), "10.0.1.1");
  auto hosts = Cli({"host", "list"});
  EXPECT_TRUE(hosts.first) << hosts.second;

  // A bad reference: the store's error, exit code 1, nothing made.
  auto bad = Cli(
      {"instance", "create", "--type", "ecs.no-such.type", "--image", "base", "--vswitch", vsw});
  EXPECT_FALSE(bad.first);
  EXPECT_NE(bad.second.find("NotFound"), std::string::npos) << bad.second;
  EXPECT_FALSE(Cli({"image", "delete", image}).first) << "deleted while an instance uses it";

  auto gone = Cli({"instance", "delete", instance});
  EXPECT_TRUE(gone.first) << gone.second;
  list = Cli({"instance", "list"});
  EXPECT_EQ(list.second.find(instance), std::string::npos) << list.second;
  EXPECT_TRUE(Cli({"image", "delete", "base"}).first);
}

}  // namespace
}  // namespace tg::testing
