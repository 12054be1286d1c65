// The fixture of the instance end-to-end tests: a two-host cloud
// (compute_cluster.h) with the test image imported and a VPC to put
// instances in.
#pragma once

#include <gtest/gtest.h>

#include "cli/cli_test_util.h"
#include "compute/e2e/compute_cluster.h"
#include "compute/qemu/qemu_command.h"

namespace tg::testing {

using namespace std::chrono_literals;
using compute::InstanceStatus;

// The status of a result held by value: ASSERT_OK binds a reference, and
// the status of a temporary result dies with it.
template <typename T>
Status StatusOf(Result<T> r) {
  return r.status();
}

class InstanceEndToEnd : public ::testing::Test {
 protected:
  explicit InstanceEndToEnd(int hosts = 2) : cluster_(io_, hosts), hosts_(hosts) {}
  void SetUp() override {
    ASSERT_TRUE(cluster_.ok()) << "could not build the underlay (needs root)";
    for (int i = 1; i <= hosts_; ++i) ASSERT_OK(cluster_.StartNode(i, NodeFlags(i)));
    Status nodes = RunTask(io_, cluster_.WaitForNodes(hosts_, 60s));
    ASSERT_TRUE(nodes.ok()) << nodes << "\n" << ReadFile(cluster_.NodeLog(1));
    auto image = RunTask(io_, cluster_.ImportImage());
    ASSERT_OK(image.status());
    image_ = *image;
    auto net = RunTask(io_, cluster_.MakeNetwork());
    ASSERT_OK(net.status());
    net_ = *net;
  }

  // An instance of the test image on the VPC's vSwitch.
  std::string Create(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"instance", "create", "--type",    "ecs.t6-c1m1.small",
                                     "--image",  image_,   "--vswitch", net_.vswitch,
                                     "--sg",     net_.sg};
    args.insert(args.end(), more.begin(), more.end());
    auto id = RunTask(io_, cluster_.CliId(args));
    EXPECT_OK(id.status());
    return id.ok() ? *id : "";
  }
  // The host index (1-based) an instance runs on.
  int HostOf(const compute::Instance& i) { return std::stoi(i.host.substr(1)); }
  std::string IpOf(const compute::Instance& i) {
    auto net = RunTask(io_, cluster_.ReadNetwork());
    EXPECT_OK(net.status());
    return net.ok() ? net->interfaces.at(i.nics.at(0).eni).value.ip.ToString() : "";
  }
  std::string Diagnose(const compute::Instance& i) {
    return fmt::format("console:\n{}\nnode log:\n{}", ConsoleLog(cluster_.RunDir(HostOf(i), i.id)),
                       ReadFile(cluster_.NodeLog(HostOf(i))));
  }

  virtual std::vector<std::string> NodeFlags(int /*host*/) { return {}; }
  // Waits until the instance runs and its guest is up (console "ready").
  compute::Instance Boot(const std::string& id) {
    auto i = RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kRunning, 120s));
    EXPECT_OK(i.status());
    if (!i.ok()) return {};
    EXPECT_TRUE(WaitForConsole(cluster_.RunDir(HostOf(*i), id), "TG-GUEST: ready", 240s))
        << Diagnose(*i);
    return *i;
  }
  std::string RunDirOf(const compute::Instance& i) { return cluster_.RunDir(HostOf(i), i.id); }

  asio::io_context io_;
  ComputeCluster cluster_;
  int hosts_;
  std::string image_;
  ComputeCluster::Network net_;
};

}  // namespace tg::testing
