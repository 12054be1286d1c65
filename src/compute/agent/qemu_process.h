// One instance's QEMU, as the agent drives it: launched daemonized (so it
// outlives the agent: a restarted agent adopts it again from its pid file
// and QMP socket), watched through QMP (a SHUTDOWN event says why it went;
// the connection's end says that it went), powered down, reset and
// hot-plugged through QMP.
//
// Thread-safety: belongs to one executor.
#pragma once

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>

#include "base/async.h"
#include "compute/qemu/qemu_command.h"
#include "compute/qemu/qmp_client.h"

namespace tg::compute {

class QemuProcess {
 public:
  // Starts QEMU for `spec` and connects to its QMP socket. The error names
  // what QEMU printed if it refused to start.
  static Task<Result<std::unique_ptr<QemuProcess>>> Launch(Executor ex, const QemuSpec& spec,
                                                           Duration timeout);
  // The QEMU of instance `name` still running from `run_dir` (its pid file
  // names a live process started for that instance): connects to it.
  // NotFound if there is none.
  static Task<Result<std::unique_ptr<QemuProcess>>> Adopt(Executor ex, std::string name,
                                                          std::string run_dir, Duration timeout);
  // REQUIRES: Release() has completed.
  ~QemuProcess();
  // Lets go of QEMU without stopping it (the agent is stopping; a restarted
  // one adopts it again): closes QMP and ends the watch.
  Task<void> Release();

  pid_t pid() const { return pid_; }
  // Set once QEMU has gone (its QMP connection ended and the process is gone).
  Event& exited() { return exited_; }
  bool running() const { return !exited_.is_set(); }
  // Why it went: "guest powered off", "stopped by the agent", or what
  // QEMU's last SHUTDOWN event or its log said.
  const std::string& exit_reason() const { return exit_reason_; }

  // ACPI power button; if the guest has not powered off after `grace`,
  // QEMU is told to quit. Returns once QEMU has gone.
  Task<Status> PowerDown(Duration grace);
  // Quits at once (a forced stop); SIGKILL if QEMU does not go.
  Task<Status> Quit();
  // A hard reset (system_reset).
  Task<Status> Reset();
  // Stops the guest's vCPUs (QMP stop), or lets them run again (cont). QEMU
  // starts paused: nothing runs until the agent resumes it.
  Task<Status> Pause();
  Task<Status> Resume();
  // QEMU's run state (query-status): "running", "paused", "prelaunch", ...
  Task<Result<std::string>> RunState();
  // The self-fence: SIGSTOP to the whole process, at once. Unlike QMP stop
  // it waits for nothing (QEMU's stop drains the vhost-user rings first,
  // which a backend cut off from its storage cannot finish). Each is noted
  // in the run-state log ("FROZEN", "THAWED", with this host's time). A
  // frozen QEMU answers no QMP: Quit kills it.
  Status Freeze();
  Status Thaw();
  bool frozen() const { return frozen_; }

  // The ids of the devices QEMU has now (qom /machine/peripheral): what a
  // restarted agent finds plugged.
  Task<Result<std::set<std::string>>> Devices();

  // Hot-plug: adds the device; the unplug waits for QEMU's DEVICE_DELETED
  // for it (the guest has let go), then removes its chardev.
  Task<Status> PlugDisk(const QemuDisk& disk);
  Task<Status> UnplugDisk(const std::string& id, Duration timeout);
  Task<Status> PlugNic(const QemuNic& nic, Accelerator accelerator);
  Task<Status> UnplugNic(const std::string& id, Duration timeout);

 private:
  QemuProcess(Executor ex, std::string name, pid_t pid, std::string run_dir,
              std::unique_ptr<QmpClient> qmp);
  Task<void> Watch();
  Task<Status> RunSteps(const std::vector<QmpStep>& steps);
  Task<Status> Unplug(const std::string& id, Duration timeout, const std::string& then_command,
                      const std::string& then_id);
  Task<void> WaitGone(Duration timeout);

  Executor ex_;
  std::string name_;
  pid_t pid_;
  std::string run_dir_;
  std::unique_ptr<QmpClient> qmp_;
  Event exited_;
  std::string exit_reason_;
  std::string shutdown_reason_;    // from the last SHUTDOWN event
  bool stopping_ = false;          // the agent asked for the stop
  bool released_ = false;          // the agent let go (QEMU runs on)
  bool frozen_ = false;            // SIGSTOPped
  std::set<std::string> deleted_;  // DEVICE_DELETED device ids seen
  Broadcast events_;               // each DEVICE_DELETED
  TaskGroup watch_;
};

}  // namespace tg::compute
