// Host failures end to end, on three hosts: a host killed outright, and a
// host cut off from everything (its link down) while its agent lives on.
// The instance comes back on another host from the same disks with every
// write its guest had acknowledged, keeps its MAC and address, and two
// copies never run at once (both QEMUs' own run-state logs say when each
// ran).
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <thread>

#include "compute/e2e/moving_fixture.h"

namespace tg::testing {
namespace {

class HaEndToEnd : public MovingInstanceEndToEnd {
 protected:
  HaEndToEnd() : MovingInstanceEndToEnd(3) {}
};

TEST_F(HaEndToEnd, HostKilledItsInstanceRestartsElsewhereWithEveryAcknowledgedWrite) {
  const auto [ia, ib] = BootApart();
  ASSERT_FALSE(HasFailure());
  const std::string a = ia.id, b = ib.id;
  const std::string ip_a = IpOf(ia);
  ASSERT_TRUE(WaitForConsole(RunDirOf(ia), "TG-GUEST: eth0 " + ip_a + "/", 60s)) << Diagnose(ia);
  ASSERT_TRUE(WaitForConsole(RunDirOf(ib), "TG-GUEST: eth0 ", 60s)) << Diagnose(ib);
  const uint64_t epoch_before = EpochOf(ia.disks.at(0).volume);
  StartWriter(RunDirOf(ia));
  ASSERT_FALSE(HasFatalFailure());

  // kill -9 of the host's Tiangong process and of its QEMUs, mid-write.
  const int dead = HostOf(ia);
  const double killed_at = WallSeconds();
  cluster_.KillNode(dead);
  EXPECT_EQ(cluster_.KillQemus(dead), 1);
  const int last = LastAck(ConsoleLog(RunDirOf(ia)));
  ASSERT_GE(last, 20);

  const compute::Instance moved = WaitMoved(a, ia.host, 120s, 1);
  ASSERT_FALSE(HasFailure());
  // Anti-affinity kept: not on b's host either.
  EXPECT_NE(moved.host, ib.host);
  const std::string run = RunDirOf(moved);
  const std::vector<double> resumed = EventTimes(run, "RESUME");
  ASSERT_FALSE(resumed.empty()) << ReadFile(compute::QmpEventLogPath(run));
  std::cout << fmt::format("HA: host killed -> QEMU running on {}: {:.2f} s\n", moved.host,
                           resumed.front() - killed_at);
  ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: ready", 240s)) << Diagnose(moved);
  std::cout << fmt::format("HA: host killed -> guest ready on {}: {:.2f} s\n", moved.host,
                           WallSeconds() - killed_at);
  // The new host opened the disks at a new epoch: the old writer is fenced.
  EXPECT_GT(EpochOf(moved.disks.at(0).volume), epoch_before);

  // Same interface (MAC and address), and reachable again from b.
  ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: eth0 " + ip_a + "/", 60s)) << Diagnose(moved);
  auto net = RunTask(io_, cluster_.ReadNetwork());
  ASSERT_OK(net.status());
  const std::string mac = net->interfaces.at(moved.nics.at(0).eni).value.mac.ToString();
  {
    auto console = GuestConsole::Connect(run, 10s);
    ASSERT_OK(console.status());
    auto addr = console->Run("cat /sys/class/net/eth0/address", 10s);
    ASSERT_OK(addr.status());
    EXPECT_NE(addr->find(mac), std::string::npos) << *addr;
  }
  {
    auto console = GuestConsole::Connect(RunDirOf(ib), 10s);
    ASSERT_OK(console.status());
    auto ping = console->Run("ping -c 3 -W 5 " + ip_a, 60s);
    ASSERT_OK(ping.status());
    EXPECT_NE(ping->find(" 0% packet loss"), std::string::npos) << *ping;
  }
  CheckRecords(run, last);

  // What the user sees: an executed redeploy event from the dead host.
  std::vector<compute::InstanceEvent> events;
  for (int i = 0; i < 50; ++i) {
    events = EventsOf(a);
    if (!events.empty() && events.front().status == compute::kEventExecuted) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, compute::kEventRedeploy);
  EXPECT_EQ(events[0].status, compute::kEventExecuted);
  EXPECT_EQ(events[0].from_host, ia.host);
  EXPECT_EQ(events[0].to_host, moved.host);
  auto listed = RunTask(io_, cluster_.Cli({"instance", "events", a}));
  ASSERT_OK(listed.status());
  EXPECT_NE(listed->find("SystemFailure.Redeploy"), std::string::npos) << *listed;
  auto hosts = RunTask(io_, cluster_.Cli({"host", "list"}));
  ASSERT_OK(hosts.status());
  EXPECT_NE(hosts->find("fenced"), std::string::npos) << *hosts;
}

TEST_F(HaEndToEnd, HostCutOffPausesItsGuestWhichNeverRunsBesideItsReplacement) {
  const std::string a = Create({"--data-disk", "64M"});
  const compute::Instance ia = Boot(a);
  ASSERT_FALSE(HasFailure());
  StartWriter(RunDirOf(ia));
  ASSERT_FALSE(HasFatalFailure());
  const int cut = HostOf(ia);
  const std::string old_run = RunDirOf(ia);
  const uint64_t epoch_before = EpochOf(ia.disks.at(0).volume);

  const double cut_at = WallSeconds();
  ASSERT_TRUE(cluster_.net().SetHostLink(cut, false));
  const compute::Instance moved = WaitMoved(a, ia.host, 120s, 1);
  ASSERT_FALSE(HasFailure());
  const std::string run = RunDirOf(moved);
  const std::vector<double> started = EventTimes(run, "RESUME");
  ASSERT_FALSE(started.empty());
  std::cout << fmt::format("partition: link cut -> QEMU running on {}: {:.2f} s\n", moved.host,
                           started.front() - cut_at);

  // The cut-off copy froze itself before its lease could lapse, so before
  // the new copy ran; and it is frozen still (the kernel says so).
  const std::string old_pid = ReadFile(compute::PidFilePath(old_run));
  ASSERT_FALSE(old_pid.empty());
  const std::string stat = ReadFile(fmt::format("/proc/{}/stat", std::stoi(old_pid)));
  EXPECT_NE(stat.find(") T "), std::string::npos) << "the old copy is not stopped: " << stat;
  const std::vector<double> frozen = EventTimes(old_run, "FROZEN");
  ASSERT_FALSE(frozen.empty()) << "the cut-off copy never froze: "
                               << ReadFile(compute::QmpEventLogPath(old_run)) << "\n"
                               << ReadFile(cluster_.NodeLog(cut));
  EXPECT_LT(frozen.back(), started.front());
  std::cout << fmt::format(
      "partition: old copy frozen {:.2f} s after the cut, {:.2f} s before "
      "the new one ran\n",
      frozen.back() - cut_at, started.front() - frozen.back());
  const int last = LastAck(ConsoleLog(old_run));
  // Its disks are at a new epoch: the chunkservers refuse the old writer.
  EXPECT_GT(EpochOf(moved.disks.at(0).volume), epoch_before);

  // Healed: the old host learns the instance is elsewhere and ends its
  // copy without ever resuming it; nothing of it is left there.
  ASSERT_TRUE(cluster_.net().SetHostLink(cut, true));
  std::string old_log = ReadFile(compute::QmpEventLogPath(old_run));
  const TimePoint deadline = Clock::now() + 60s;
  while (std::filesystem::exists(old_run) && Clock::now() < deadline) {
    const std::string now = ReadFile(compute::QmpEventLogPath(old_run));
    if (!now.empty()) old_log = now;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_FALSE(std::filesystem::exists(old_run)) << "the old host kept the instance's directory";
  EXPECT_FALSE(std::filesystem::exists(fmt::format("/proc/{}", std::stoi(old_pid))))
      << "the old copy's QEMU still runs";
  const size_t last_freeze = old_log.rfind(" FROZEN ");
  ASSERT_NE(last_freeze, std::string::npos) << old_log;
  EXPECT_EQ(old_log.find(" THAWED ", last_freeze), std::string::npos)
      << "the old copy ran again after its fence:\n"
      << old_log;
  EXPECT_EQ(old_log.find(" RESUME ", last_freeze), std::string::npos) << old_log;
  auto still = RunTask(io_, cluster_.ReadCompute());
  ASSERT_OK(still.status());
  EXPECT_EQ(still->instances.at(a).value.host, moved.host);
  EXPECT_EQ(still->instances.at(a).value.status, InstanceStatus::kRunning);

  ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: ready", 240s)) << Diagnose(moved);
  CheckRecords(run, last);
}

TEST_F(HaEndToEnd, AFlappingHostAndAHostDeadWithAChunkserverRecoverEachInstanceOnce) {
  const std::string a = Create();
  const compute::Instance ia = Boot(a);
  const std::string b = Create();
  const compute::Instance ib = Boot(b);
  ASSERT_FALSE(HasFailure());
  ASSERT_NE(ia.host, ib.host);
  const int flapper = HostOf(ia);

  // a's host flaps: cut long enough to lose its lease, back, cut, back.
  ASSERT_TRUE(cluster_.net().SetHostLink(flapper, false));
  const compute::Instance moved = WaitMoved(a, ia.host, 120s, 1);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(cluster_.net().SetHostLink(flapper, true));
  std::this_thread::sleep_for(2s);
  ASSERT_TRUE(cluster_.net().SetHostLink(flapper, false));
  std::this_thread::sleep_for(7s);
  ASSERT_TRUE(cluster_.net().SetHostLink(flapper, true));
  // Back for good: it ends its stale copy and keeps nothing of a.
  const TimePoint deadline = Clock::now() + 60s;
  while (std::filesystem::exists(cluster_.RunDir(flapper, a)) && Clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(std::filesystem::exists(cluster_.RunDir(flapper, a)))
      << ReadFile(cluster_.NodeLog(flapper));
  EXPECT_EQ(LiveQemus(a), 1);
  // Its stale copy may have ended at the first heal, before it registered
  // again after the second: wait for it to be listed, then it is quarantined.
  const auto [state, hosts] = WaitHostStateNot(fmt::format("h{}", flapper), "fenced", 30s);
  EXPECT_EQ(state, "quarantined") << hosts;

  // b's host dies with one of the three chunkservers: b still comes back,
  // on the one host neither dead nor quarantined, its volumes served by
  // the two replicas left.
  const int dead = HostOf(ib);
  cluster_.KillNode(dead);
  cluster_.KillQemus(dead);
  cluster_.storage().KillChunkserver(0);
  const compute::Instance back = WaitMoved(b, ib.host, 180s, 1);
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(back.host, fmt::format("h{}", flapper)) << "placed on the quarantined host";
  EXPECT_TRUE(WaitForConsole(RunDirOf(back), "TG-GUEST: ready", 240s)) << Diagnose(back);

  // Each moved once, each runs once.
  const compute::Instance a_now = WaitMoved(a, ia.host, 10s, 1);
  EXPECT_EQ(a_now.host, moved.host);
  EXPECT_EQ(a_now.incarnation, 1u);
  EXPECT_EQ(back.incarnation, 1u);
  EXPECT_EQ(LiveQemus(a), 1);
  EXPECT_EQ(LiveQemus(b), 1);
  EXPECT_EQ(EventsOf(a).size(), 1u);
  EXPECT_EQ(EventsOf(b).size(), 1u);
}

}  // namespace
}  // namespace tg::testing
