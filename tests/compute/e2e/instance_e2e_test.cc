// Instances end to end: an image imported into the distributed store, two
// instances of it on two hosts in one VPC, booted by the firmware from their
// own copy-on-write disks, taking addresses by DHCP and pinging each other
// across hosts; what a guest writes survives a stop and a start; the image
// itself is unchanged; the lifecycle (ACPI and forced stops, reboot, delete)
// moves the status as documented and delete frees disks, ports and capacity.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "compute/e2e/instance_fixture.h"
#include "storage/client/distributed_volume.h"

namespace tg::testing {
namespace {

TEST_F(InstanceEndToEnd, TwoHostsBootFromTheirOwnDisksPingAndKeepWhatTheyWrote) {
  auto ds = RunTask(io_, cluster_.CliId({"deployment-set", "create", "spread"}));
  ASSERT_OK(ds.status());
  const std::string a = Create({"--deployment-set", *ds});
  const std::string b = Create({"--deployment-set", *ds});
  auto ia = RunTask(io_, cluster_.WaitForStatus(a, InstanceStatus::kRunning, 120s));
  ASSERT_OK(ia.status());
  auto ib = RunTask(io_, cluster_.WaitForStatus(b, InstanceStatus::kRunning, 120s));
  ASSERT_OK(ib.status());
  ASSERT_NE(ia->host, ib->host) << "a deployment set's instances share a host";
  const std::string run_a = cluster_.RunDir(HostOf(*ia), a);
  const std::string run_b = cluster_.RunDir(HostOf(*ib), b);
  const std::string ip_a = IpOf(*ia), ip_b = IpOf(*ib);

  // Booted by the firmware from the vhost-user-blk disk (SeaBIOS, then
  // extlinux from the clone), and DHCP gave each its own address.
  for (const auto& [run, ip, inst] : {std::tuple{run_a, ip_a, *ia}, std::tuple{run_b, ip_b, *ib}}) {
    ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: ready", 180s)) << Diagnose(inst);
    ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: eth0 " + ip + "/", 60s)) << Diagnose(inst);
  }
  EXPECT_NE(ConsoleLog(run_a).find("SYSLINUX"), std::string::npos) << "no bootloader output";

  {  // one console client at a time: this one goes at the end of the block
    auto console = GuestConsole::Connect(run_a, 10s);
    ASSERT_OK(console.status());
    auto ping = console->Run("ping -c 3 -W 5 " + ip_b, 60s);
    ASSERT_OK(ping.status());
    EXPECT_NE(ping->find(" 0% packet loss"), std::string::npos) << *ping;
    auto wrote = console->Run("echo kept-" + a + " > /mnt/root/kept && sync", 30s);
    ASSERT_OK(wrote.status());
    EXPECT_NE(wrote->find("TG-EXIT 0"), std::string::npos) << *wrote;
  }

  // Stop (ACPI: the guest's acpid powers it off) and start: the file is there.
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "stop", a}))));
  auto stopped = RunTask(io_, cluster_.WaitForStatus(a, InstanceStatus::kStopped, 60s));
  ASSERT_OK(stopped.status());
  EXPECT_NE(ConsoleLog(run_a).find("reboot: Power down"), std::string::npos) << Diagnose(*ia);
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "start", a}))));
  auto again = RunTask(io_, cluster_.WaitForStatus(a, InstanceStatus::kRunning, 60s));
  ASSERT_OK(again.status());
  const std::string run_again = cluster_.RunDir(HostOf(*again), a);
  ASSERT_TRUE(WaitForConsole(run_again, "TG-GUEST: ready", 180s, 2)) << Diagnose(*again);
  auto console2 = GuestConsole::Connect(run_again, 10s);
  ASSERT_OK(console2.status());
  auto kept = console2->Run("cat /mnt/root/kept", 30s);
  ASSERT_OK(kept.status());
  EXPECT_NE(kept->find("kept-" + a), std::string::npos) << *kept;

  // The image's own data is what was imported: the instances wrote to
  // their clones only. Read through a fresh clone of the image's snapshot.
  auto st = RunTask(io_, cluster_.ReadCompute());
  ASSERT_OK(st.status());
  const compute::Image& image = st->images.at(image_).value;
  ASSERT_OK(
      StatusOf(RunTask(io_, cluster_.Cli({"volume", "clone", image.snapshot, "image-check"}))));
  const std::string raw = cluster_.dir() + "/image.raw";
  ASSERT_TRUE(Sh(fmt::format("qemu-img convert -O raw {} {}", cluster_.ImportedImageFile(), raw)));
  auto check =
      RunTask(io_, storage::OpenDistributedVolume(cluster_.storage().client(),
                                                  {.volume = "image-check", .holder = "test"}));
  ASSERT_OK(check.status());
  const std::string original = ReadFile(raw);
  ASSERT_EQ((*check)->size() >= original.size(), true);
  std::vector<uint8_t> back(original.size());
  ASSERT_OK(RunTask(io_, (*check)->Read(0, back)));
  auto differs = std::mismatch(back.begin(), back.end(), original.begin(),
                               [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); });
  EXPECT_TRUE(differs.first == back.end())
      << "the image changed: first difference at byte " << (differs.first - back.begin()) << " of "
      << back.size() << ": volume "
      << fmt::format("{:02x}",
                     fmt::join(std::vector<uint8_t>(differs.first, differs.first + 8), " "))
      << ", file "
      << fmt::format("{:02x}",
                     fmt::join(std::vector<uint8_t>(differs.second, differs.second + 8), " "));
  RunTask(io_, (*check)->Close());
}

}  // namespace
}  // namespace tg::testing
