// One instance's QEMU, as the agent drives it: launched daemonized (so it
// outlives the agent: a restarted agent adopts it again from its pid file
// and QMP socket), watched through QMP (a SHUTDOWN event says why it went;
// the connection's end says that it went), powered down, reset and
// hot-plugged through QMP.
//
// Thread-safety: belongs to one executor.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "base/async.h"
#include "compute/qemu/qemu_command.h"
#include "compute/qemu/qmp_client.h"

namespace tg::compute {

// What QEMU says of an outgoing migration (query-migrate).
struct MigrationInfo {
  std::string status;  // "none", "setup", "active", "completed", "failed", "cancelled", ...
  uint64_t total_ms = 0;
  uint64_t downtime_ms = 0;
  uint64_t transferred_bytes = 0;
  uint64_t remaining_bytes = 0;
  uint64_t dirty_syncs = 0;
  std::string error;  // why it failed
};

struct MigrationLimits {
  uint32_t downtime_ms = 300;
  uint64_t bandwidth_mib = 0;  // 0: unlimited
  bool auto_converge = true;
};

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
  // Lets the guest's vCPUs run (QMP cont). QEMU starts paused: nothing runs
  // until the agent resumes it.
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

  // Live migration. The destination (started with QemuSpec::incoming)
  // listens on `uri` ("tcp:ADDRESS:PORT"); the source sends its state there
  // under `limits`, and follows it with QueryMigration (the MIGRATION
  // events wake changes()). A cancel leaves the source running.
  Task<Status> Incoming(const std::string& uri);
  Task<Status> Migrate(const std::string& uri, const MigrationLimits& limits);
  Task<Result<MigrationInfo>> QueryMigration();
  Task<Status> CancelMigration();
  // Whether QEMU has reported RESUME since it started (a destination: it
  // runs the guest now).
  bool resumed() const { return resumed_; }
  // Woken by each run-state, migration or device event, and by the exit.
  Broadcast& changes() { return events_; }
  // The PCI slot of each device on the root bus (query-pci), by device id.
  Task<Result<std::map<std::string, uint32_t>>> PciSlots();

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
  bool resumed_ = false;           // a RESUME event came
  std::set<std::string> deleted_;  // DEVICE_DELETED device ids seen
  Broadcast events_;               // each DEVICE_DELETED
  TaskGroup watch_;
};

}  // namespace tg::compute
