// The lifecycle of one instance, end to end: reboot, forced stop, start,
// delete (its disks, its interface and its share of the host go), a QEMU
// killed under the agent (reported Stopped, with the reason), and a QEMU
// that cannot start (Stopped with the error; nothing else stops).
#include <signal.h>

#include "compute/e2e/instance_fixture.h"

namespace tg::testing {
namespace {

class LifecycleEndToEnd : public InstanceEndToEnd {
 protected:
  LifecycleEndToEnd() : InstanceEndToEnd(1) {}
};

TEST_F(LifecycleEndToEnd, RebootForcedStopStartAndDeleteFreeEverything) {
  const std::string id = Create();
  compute::Instance inst = Boot(id);
  ASSERT_FALSE(inst.id.empty());
  const std::string run = RunDirOf(inst);

  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "reboot", id}))));
  ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: ready", 240s, 2)) << Diagnose(inst);
  auto rebooted = RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kRunning, 10s));
  ASSERT_OK(rebooted.status());
  EXPECT_EQ(rebooted->reboots_done, rebooted->reboot_requests);
  EXPECT_EQ(rebooted->reboots_done, 1u);

  // A forced stop does not wait for the guest.
  const TimePoint stop_at = Clock::now();
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "stop", id, "--force"}))));
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kStopped, 30s))));
  EXPECT_LT(Clock::now() - stop_at, 15s);
  EXPECT_EQ(ConsoleLog(run).find("reboot: Power down"), std::string::npos) << "it powered off";

  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "start", id}))));
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kRunning, 60s))));
  ASSERT_TRUE(WaitForConsole(run, "TG-GUEST: ready", 240s, 3)) << Diagnose(inst);

  // Delete: the record, its volumes, its interface and its allocation go.
  auto before = RunTask(io_, cluster_.ReadCompute());
  ASSERT_OK(before.status());
  ASSERT_TRUE(before->allocations.at("h1").value.instances.contains(id));
  const int pid = std::stoi(ReadFile(compute::PidFilePath(run)));
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "delete", id, "--force"}))));
  ASSERT_OK(RunTask(io_, cluster_.WaitGone(id, 60s)));
  auto volumes = RunTask(io_, cluster_.Cli({"volume", "list"}));
  ASSERT_OK(volumes.status());
  EXPECT_EQ(volumes->find(inst.disks.at(0).volume), std::string::npos) << *volumes;
  auto net = RunTask(io_, cluster_.ReadNetwork());
  ASSERT_OK(net.status());
  EXPECT_FALSE(net->interfaces.contains(inst.nics.at(0).eni));
  const TimePoint freed_by = Clock::now() + 30s;
  bool freed = false;
  while (!freed && Clock::now() < freed_by) {
    auto st = RunTask(io_, cluster_.ReadCompute());
    freed = st.ok() && (!st->allocations.contains("h1") ||
                        !st->allocations.at("h1").value.instances.contains(id));
    if (!freed) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(freed) << "the host still counts the deleted instance";
  EXPECT_EQ(::kill(pid, 0), -1) << "QEMU still runs";
}

TEST_F(LifecycleEndToEnd, QemuKilledUnderTheAgentIsReportedStoppedWithTheReason) {
  const std::string id = Create();
  compute::Instance inst = Boot(id);
  ASSERT_FALSE(inst.id.empty());
  const int pid = std::stoi(ReadFile(compute::PidFilePath(RunDirOf(inst))));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto stopped =
      RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kStopped, 30s, "unexpectedly"));
  ASSERT_TRUE(stopped.ok()) << stopped.status() << "\n" << Diagnose(inst);
  EXPECT_EQ(stopped->desired, compute::PowerState::kStopped);  // not restarted behind the user
  // It starts again on request.
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "start", id}))));
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kRunning, 60s))));
}

// A host whose QEMU cannot start (here: a QEMU binary that only fails).
class BrokenQemuEndToEnd : public InstanceEndToEnd {
 protected:
  BrokenQemuEndToEnd() : InstanceEndToEnd(1) {}
  std::vector<std::string> NodeFlags(int) override { return {"--qemu", "false"}; }
};

TEST_F(BrokenQemuEndToEnd, AQemuThatCannotStartLeavesTheInstanceStoppedWithTheError) {
  const std::string id = Create();
  auto stopped =
      RunTask(io_, cluster_.WaitForStatus(id, InstanceStatus::kStopped, 60s, "start failed"));
  ASSERT_OK(stopped.status());
  EXPECT_NE(stopped->status_reason.find("QEMU could not start"), std::string::npos)
      << stopped->status_reason;
  // The agent goes on: a second instance gets the same clear status.
  const std::string other = Create();
  ASSERT_OK(StatusOf(
      RunTask(io_, cluster_.WaitForStatus(other, InstanceStatus::kStopped, 60s, "start failed"))));
  // Nothing of the failed start is left attached: the disk can be deleted.
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"instance", "delete", id}))));
  ASSERT_OK(RunTask(io_, cluster_.WaitGone(id, 60s)));
}

}  // namespace
}  // namespace tg::testing
