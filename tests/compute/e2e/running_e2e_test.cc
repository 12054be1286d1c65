// Running instances end to end: the node agent killed (-9) and restarted
// under running guests (they run on, a cross-host ping barely notices, the
// new agent reports them Running and can stop them); disk and NIC hot-plug;
// the metadata service (a guest reads its own instance id, hostname and user
// data; one that takes another's address gets nothing of the other's).
#include <regex>

#include "compute/e2e/instance_fixture.h"
#include "storage/client/distributed_volume.h"

namespace tg::testing {
namespace {

// The longest run of echo requests with no reply in busybox ping output
// (`seq=N` of each reply), and how many replies came.
std::pair<int, int> LongestGap(const std::string& ping, int sent) {
  std::vector<bool> got(sent, false);
  const std::regex reply("seq=([0-9]+)");
  int replies = 0;
  for (auto it = std::sregex_iterator(ping.begin(), ping.end(), reply);
       it != std::sregex_iterator(); ++it) {
    const int seq = std::stoi((*it)[1]);
    if (seq >= 0 && seq < sent && !got[seq]) {
      got[seq] = true;
      ++replies;
    }
  }
  int longest = 0, run = 0;
  for (bool g : got) {
    run = g ? 0 : run + 1;
    longest = std::max(longest, run);
  }
  return {longest, replies};
}

TEST_F(InstanceEndToEnd, AgentKilledUnderRunningGuestsTheyRunOnAndItTakesThemBack) {
  auto ds = RunTask(io_, cluster_.CliId({"deployment-set", "create", "spread"}));
  ASSERT_OK(ds.status());
  const std::string a = Create({"--deployment-set", *ds});
  const std::string b = Create({"--deployment-set", *ds});
  const compute::Instance ia = Boot(a), ib = Boot(b);
  ASSERT_FALSE(ia.id.empty() || ib.id.empty());
  const std::string ip_b = IpOf(ib);
  ASSERT_TRUE(WaitForConsole(RunDirOf(ia), "TG-GUEST: eth0 ", 60s)) << Diagnose(ia);
  ASSERT_TRUE(WaitForConsole(RunDirOf(ib), "TG-GUEST: eth0 ", 60s)) << Diagnose(ib);
  const int qemu_pid = std::stoi(ReadFile(compute::PidFilePath(RunDirOf(ia))));

  // 150 pings, 0.2 s apart, across the agent's death and restart on A's host.
  constexpr int kPings = 150;
  auto console = GuestConsole::Connect(RunDirOf(ia), 10s);
  ASSERT_OK(console.status());
  ASSERT_OK(StatusOf(console->Run(
      fmt::format("ping -i 0.2 -c {} -W 1 {} > /tmp/ping.log 2>&1 & true", kPings, ip_b), 10s)));
  std::this_thread::sleep_for(5s);  // pings before the kill (part of what is measured)
  const int host = HostOf(ia);
  cluster_.KillNode(host);
  ASSERT_EQ(::kill(qemu_pid, 0), 0) << "the guest died with its agent";
  ASSERT_OK(cluster_.StartNode(host));
  ASSERT_TRUE(WaitForText(cluster_.NodeLog(host), "taken back", 30s))
      << ReadFile(cluster_.NodeLog(host));
  auto done =
      console->Run("while pidof ping > /dev/null; do sleep 1; done; cat /tmp/ping.log", 90s);
  ASSERT_OK(done.status());
  const auto [gap, replies] = LongestGap(*done, kPings);
  std::cout << "ping across the agent restart: " << replies << "/" << kPings
            << " replies, longest gap " << gap << " requests (" << gap * 200 << " ms)\n";
  EXPECT_LE(gap, 5) << "a gap of more than a second: " << *done;
  EXPECT_GE(replies, kPings - 10) << *done;
  EXPECT_EQ(std::stoi(ReadFile(compute::PidFilePath(RunDirOf(ia)))), qemu_pid);

  // The new agent owns it: Running, and it stops it.
  auto running = RunTask(io_, cluster_.WaitForStatus(a, InstanceStatus::kRunning, 10s));
  ASSERT_OK(running.status());
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "stop", a, "--force"}))));
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.WaitForStatus(a, InstanceStatus::kStopped, 30s))));
  EXPECT_EQ(::kill(qemu_pid, 0), -1) << "the adopted QEMU still runs";
}

TEST_F(InstanceEndToEnd, DiskAndNicHotPlugOnARunningGuest) {
  const std::string a = Create();
  const compute::Instance ia = Boot(a);
  ASSERT_FALSE(ia.id.empty());
  auto console = GuestConsole::Connect(RunDirOf(ia), 10s);
  ASSERT_OK(console.status());

  // A second NIC on a second vSwitch reaches an instance there through it.
  auto vsw2 = RunTask(io_, cluster_.CliId({"vswitch", "create", "--vpc", net_.vpc, "--cidr",
                                           "192.168.2.0/24", "--zone", "z1"}));
  ASSERT_OK(vsw2.status());
  auto b = RunTask(io_, cluster_.CliId({"instance", "create", "--type", "ecs.t6-c1m1.small",
                                        "--image", image_, "--vswitch", *vsw2, "--sg", net_.sg}));
  ASSERT_OK(b.status());
  const compute::Instance ib = Boot(*b);
  const std::string ip_b = IpOf(ib);
  auto eni = RunTask(
      io_, cluster_.CliId({"instance", "attach-nic", a, "--vswitch", *vsw2, "--sg", net_.sg}));
  ASSERT_OK(eni.status());
  // Asked through the console we hold (a console client that does not read
  // stalls the guest's output, so the log is no place to wait in).
  auto bound = console->Run(
      "for i in $(seq 60); do ip -4 addr show eth1 2>/dev/null | grep -q 'inet 192.168.2.' && "
      "break; sleep 1; done; ip -4 addr show eth1",
      90s);
  ASSERT_TRUE(bound.ok()) << bound.status();
  ASSERT_NE(bound->find("inet 192.168.2."), std::string::npos) << *bound << Diagnose(ia);
  auto ping = console->Run(
      "tx=$(cat /sys/class/net/eth1/statistics/tx_packets); ping -c 3 -W 5 " + ip_b +
          " && ip route get " + ip_b +
          " && echo eth1-sent=$(( $(cat /sys/class/net/eth1/statistics/tx_packets) - tx ))",
      60s);
  ASSERT_OK(ping.status());
  EXPECT_NE(ping->find(" 0% packet loss"), std::string::npos) << *ping;
  EXPECT_NE(ping->find("dev eth1"), std::string::npos) << *ping;
  EXPECT_EQ(ping->find("eth1-sent=0"), std::string::npos) << *ping;

  // A data disk: plugged, written by the guest, unplugged; the data is on
  // the volume.
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"volume", "create", "data1", "--size", "64M"}))));
  auto disk = RunTask(io_, cluster_.CliId({"instance", "attach-disk", a, "data1"}));
  ASSERT_OK(disk.status());
  auto wrote = console->Run(
      "for i in $(seq 60); do [ -b /dev/vdb ] && break; sleep 0.5; done; "
      "echo hotplugged-" +
          a + " | dd of=/dev/vdb bs=512 count=1 conv=sync && sync",
      60s);
  ASSERT_OK(wrote.status());
  ASSERT_NE(wrote->find("TG-EXIT 0"), std::string::npos) << *wrote << Diagnose(ia);
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "detach-disk", a, *disk}))));
  ASSERT_TRUE(WaitForText(cluster_.NodeLog(HostOf(ia)), "disk " + *disk + " unplugged", 60s))
      << Diagnose(ia);
  auto gone = console->Run("[ ! -b /dev/vdb ]", 10s);
  ASSERT_OK(gone.status());
  EXPECT_NE(gone->find("TG-EXIT 0"), std::string::npos) << "the guest still has vdb";
  auto volume = RunTask(io_, storage::OpenDistributedVolume(cluster_.storage().client(),
                                                            {.volume = "data1", .holder = "test"}));
  ASSERT_OK(volume.status());
  std::vector<uint8_t> first(512);
  ASSERT_OK(RunTask(io_, (*volume)->Read(0, first)));
  RunTask(io_, (*volume)->Close());
  const std::string want = "hotplugged-" + a;
  EXPECT_EQ(std::string(first.begin(), first.begin() + want.size()), want);
}

TEST_F(InstanceEndToEnd, MetadataAnswersEachGuestItsOwnAndNothingToASpoofer) {
  const std::string script = cluster_.dir() + "/user-data.sh";
  {
    std::ofstream f(script);
    f << "#!/bin/sh\necho TG-USERDATA $(wget -q -O - "
         "http://100.100.100.200/latest/meta-data/instance-id)\n";
  }
  const std::string a = Create({"--hostname", "meta-a", "--user-data-file", script});
  const std::string b = Create({"--hostname", "meta-b"});
  const compute::Instance ia = Boot(a), ib = Boot(b);
  ASSERT_FALSE(ia.id.empty() || ib.id.empty());
  EXPECT_TRUE(WaitForConsole(RunDirOf(ia), "TG-GUEST: hostname meta-a", 30s)) << Diagnose(ia);
  EXPECT_TRUE(WaitForConsole(RunDirOf(ia), "TG-USERDATA " + a, 60s)) << Diagnose(ia);
  EXPECT_TRUE(WaitForConsole(RunDirOf(ib), "TG-GUEST: hostname meta-b", 30s)) << Diagnose(ib);

  auto net = RunTask(io_, cluster_.ReadNetwork());
  ASSERT_OK(net.status());
  const auto& vsw = net->vswitches.at(net_.vswitch).value;
  const std::string ip_b = IpOf(ib);
  auto console = GuestConsole::Connect(RunDirOf(ia), 10s);
  ASSERT_OK(console.status());
  auto own = console->Run("wget -q -O - http://100.100.100.200/latest/meta-data/hostname", 30s);
  ASSERT_OK(own.status());
  EXPECT_NE(own->find("meta-a"), std::string::npos) << *own;
  // A takes B's address: whatever it asks, nothing of B's comes back.
  auto spoofed = console->Run(
      fmt::format("pkill udhcpc; ip addr flush dev eth0; ip addr add {}/{} dev eth0; "
                  "ip route add default via {}; "
                  "timeout 6 wget -q -O - http://100.100.100.200/latest/meta-data/instance-id; "
                  "timeout 6 wget -q -O - http://100.100.100.200/latest/meta-data/hostname; true",
                  ip_b, vsw.cidr.prefix, vsw.gateway().ToString()),
      60s);
  ASSERT_OK(spoofed.status());
  EXPECT_EQ(spoofed->find(b), std::string::npos) << *spoofed;
  EXPECT_EQ(spoofed->find("meta-b"), std::string::npos) << *spoofed;
}

}  // namespace
}  // namespace tg::testing
