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
#include <thread>

#include "compute/e2e/instance_fixture.h"
#include "storage/common/metadata.h"

namespace tg::testing {
namespace {

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// QEMU's timestamps of `event` lines in an instance's run-state log.
std::vector<double> EventTimes(const std::string& run_dir, const std::string& event) {
  std::vector<double> out;
  const std::string log = ReadFile(compute::QmpEventLogPath(run_dir));
  const std::regex line("([0-9]+\\.[0-9]+) " + event + " ");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it)
    out.push_back(std::stod((*it)[1].str()));
  return out;
}

// The highest n of the "TG-ACK n" lines the guest's disk writer printed.
int LastAck(const std::string& console) {
  int last = -1;
  const std::regex ack("TG-ACK ([0-9]+)");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), ack);
       it != std::sregex_iterator(); ++it)
    last = std::max(last, std::stoi((*it)[1].str()));
  return last;
}

// Record n at block n of /dev/vdb, each written with direct I/O and an fsync
// before its ack is printed: an acked record is durable.
constexpr const char* kWriter =
    "(i=0; while :; do printf 'rec-%08d' $i | dd of=/dev/vdb bs=4096 seek=$i count=1 "
    "conv=sync,notrunc,fsync oflag=direct 2>/dev/null || break; echo TG-ACK $i > /dev/console; "
    "i=$((i+1)); done) > /dev/null 2>&1 & true";

// Reads records 0..last back and prints "TG-CHECKED n bad m".
std::string CheckerFor(int last) {
  return fmt::format(
      "i=0; bad=0; while [ $i -le {} ]; do r=$(dd if=/dev/vdb bs=4096 skip=$i count=1 "
      "iflag=direct 2>/dev/null | head -c 12); [ \"$r\" = \"$(printf 'rec-%08d' $i)\" ] || "
      "{{ bad=$((bad+1)); echo MISSING $i; }}; i=$((i+1)); done; echo TG-CHECKED $i bad $bad",
      last);
}

class HaEndToEnd : public InstanceEndToEnd {
 protected:
  HaEndToEnd() : InstanceEndToEnd(3) {}

  // Until the instance runs on a host other than `from`, its incarnation
  // raised: the record then.
  compute::Instance WaitMoved(const std::string& id, const std::string& from, Duration timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline) {
      auto st = RunTask(io_, cluster_.ReadCompute());
      if (st.ok() && st->instances.contains(id)) {
        const compute::Instance& i = st->instances.at(id).value;
        last = fmt::format("{} on '{}' ({}), incarnation {}", compute::InstanceStatusName(i.status),
                           i.host, i.status_reason, i.incarnation);
        if (i.status == InstanceStatus::kRunning && !i.host.empty() && i.host != from &&
            i.incarnation > 0)
          return i;
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << id << " not running elsewhere in time: " << last;
    return {};
  }
  // Live QEMUs of the instance over every host's instance directory.
  int LiveQemus(const std::string& id) {
    int n = 0;
    for (int h = 1; h <= hosts_; ++h) {
      const std::string pid = ReadFile(compute::PidFilePath(cluster_.RunDir(h, id)));
      if (pid.empty()) continue;
      const std::string cmdline = ReadFile(fmt::format("/proc/{}/cmdline", std::stoi(pid)));
      n += cmdline.find(id) != std::string::npos;
    }
    return n;
  }
  // The events the scheduler wrote for the instance.
  std::vector<compute::InstanceEvent> EventsOf(const std::string& id) {
    std::vector<compute::InstanceEvent> out;
    auto st = RunTask(io_, cluster_.ReadCompute());
    EXPECT_OK(st.status());
    if (!st.ok()) return out;
    for (const auto& [eid, e] : st->events)
      if (e.value.instance == id) out.push_back(e.value);
    return out;
  }
  uint64_t EpochOf(const std::string& volume) {
    auto got = RunTask(io_, cluster_.storage().client().Get(storage::VolumeKey(volume)));
    EXPECT_OK(got.status());
    if (!got.ok() || got->kvs.empty()) return 0;
    auto v = storage::DecodeVolume(got->kvs[0].value);
    EXPECT_OK(v.status());
    return v.ok() ? v->epoch : 0;
  }
  // Starts the disk writer in the guest and waits for its first acks.
  void StartWriter(const std::string& run_dir) {
    auto console = GuestConsole::Connect(run_dir, 10s);
    ASSERT_OK(console.status());
    ASSERT_OK(StatusOf(console->Run(kWriter, 10s)));
    ASSERT_TRUE(WaitForConsole(run_dir, "TG-ACK 20", 120s)) << ConsoleLog(run_dir);
  }
  // In the guest now at `run_dir`: every record up to `last` is there.
  void CheckRecords(const std::string& run_dir, int last) {
    auto console = GuestConsole::Connect(run_dir, 10s);
    ASSERT_OK(console.status());
    auto checked = console->Run(CheckerFor(last), 300s);
    ASSERT_OK(checked.status());
    EXPECT_NE(checked->find(fmt::format("TG-CHECKED {} bad 0", last + 1)), std::string::npos)
        << *checked;
    std::cout << "records acknowledged before the failure and found after it: " << last + 1 << "\n";
  }
};

TEST_F(HaEndToEnd, HostKilledItsInstanceRestartsElsewhereWithEveryAcknowledgedWrite) {
  auto ds = RunTask(io_, cluster_.CliId({"deployment-set", "create", "apart"}));
  ASSERT_OK(ds.status());
  const std::string a = Create({"--deployment-set", *ds, "--data-disk", "64M"});
  const std::string b = Create({"--deployment-set", *ds});
  const compute::Instance ia = Boot(a);
  const compute::Instance ib = Boot(b);
  ASSERT_FALSE(HasFailure());
  ASSERT_NE(ia.host, ib.host);
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

  const compute::Instance moved = WaitMoved(a, ia.host, 120s);
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
  const compute::Instance moved = WaitMoved(a, ia.host, 120s);
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
  const compute::Instance moved = WaitMoved(a, ia.host, 120s);
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
  auto hosts = RunTask(io_, cluster_.Cli({"host", "list"}));
  ASSERT_OK(hosts.status());
  EXPECT_NE(hosts->find("quarantined"), std::string::npos) << *hosts;

  // b's host dies with one of the three chunkservers: b still comes back,
  // on the one host neither dead nor quarantined, its volumes served by
  // the two replicas left.
  const int dead = HostOf(ib);
  cluster_.KillNode(dead);
  cluster_.KillQemus(dead);
  cluster_.storage().KillChunkserver(0);
  const compute::Instance back = WaitMoved(b, ib.host, 180s);
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(back.host, fmt::format("h{}", flapper)) << "placed on the quarantined host";
  EXPECT_TRUE(WaitForConsole(RunDirOf(back), "TG-GUEST: ready", 240s)) << Diagnose(back);

  // Each moved once, each runs once.
  const compute::Instance a_now = WaitMoved(a, ia.host, 10s);
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
