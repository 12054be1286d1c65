// The QEMU command line of an instance, built from a typed description
// (pure: no processes, no files). Every disk is a vhost-user-blk device and
// every NIC a vhost-user-net one, served by this host's backends; the
// firmware (SeaBIOS) boots the system disk (bootindex), never -kernel.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace tg::compute {

enum class Accelerator { kKvm, kTcg };

struct QemuDisk {
  std::string id;      // device id (also the chardev's: "chr-" + id)
  std::string socket;  // the vhost-user-blk socket
  int queues = 1;
  int bootindex = -1;  // the system disk: 1
  int pci_slot = -1;   // a fixed slot (a migration's destination matches its source), -1: next free
};

struct QemuNic {
  std::string id;      // device id ("net-" + id for the netdev, "chr-" + id for the chardev)
  std::string socket;  // the vhost-user-net socket
  std::string mac;     // "02:..."
  int pci_slot = -1;   // as for a disk
};

struct QemuSpec {
  std::string name;  // the instance id
  std::string binary = "qemu-system-x86_64";
  Accelerator accelerator = Accelerator::kTcg;
  uint32_t vcpus = 1;
  uint64_t memory_mib = 512;
  std::string run_dir;  // qmp.sock, serial.sock, console.log, qemu.pid live here
  std::vector<QemuDisk> disks;
  std::vector<QemuNic> nics;
  // SMBIOS type 1: cloud-init's AliYun datasource looks for this product name.
  std::string smbios_manufacturer = "Alibaba Cloud";
  std::string smbios_product = "Alibaba Cloud ECS";
  std::string serial;  // SMBIOS serial number (the instance id)
  // A live migration's destination: waits for the source's state
  // (-incoming defer, then migrate-incoming) and runs as soon as it has it.
  bool incoming = false;
};

// Paths inside run_dir.
std::string QmpSocketPath(const std::string& run_dir);
std::string SerialSocketPath(const std::string& run_dir);
std::string ConsoleLogPath(const std::string& run_dir);
std::string PidFilePath(const std::string& run_dir);
// The run states QEMU reported (STOP, RESUME, SHUTDOWN...), one line each
// with QEMU's own timestamp: the instance's power history on this host.
std::string QmpEventLogPath(const std::string& run_dir);

// argv for the spec: -machine pc (ACPI PCI hot-plug on the root bus, so
// disks and NICs can be added later without pre-made ports), RAM as a shared
// memfd (vhost-user maps it), -daemonize with a pid file (QEMU outlives the
// agent), QMP and the serial console on Unix sockets in run_dir, the console
// also logged (appended) to console.log, vhost-user chardevs with
// reconnect=1. Under TCG, virtio-net's MSI-X is off (vectors=0: QEMU 7.2
// crashes otherwise). InvalidArgument for a spec that cannot be expressed
// (no disk, a path with a comma, 0 vCPUs, ...).
// QEMU 7.2 does not finish starting (the -daemonize parent does not return)
// until every vhost-user backend accepts: start the backends first, and
// bound the wait.
Result<std::vector<std::string>> BuildQemuCommand(const QemuSpec& spec);

// QMP arguments to hot-plug or unplug one disk or NIC (chardev-add, then
// device_add / netdev_add + device_add), as {command, arguments} pairs in
// order.
struct QmpStep {
  std::string command;
  std::string arguments_json;
};
std::vector<QmpStep> PlugDiskSteps(const QemuDisk& disk);
std::vector<QmpStep> PlugNicSteps(const QemuNic& nic, Accelerator accelerator);

}  // namespace tg::compute
