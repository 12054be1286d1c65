#include "compute/qemu/qemu_command.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

namespace tg::compute {
namespace {

// sun_path holds 108 bytes with the terminating NUL; QEMU refuses longer.
constexpr size_t kMaxSocketPath = 107;
// QEMU's own limits for the pc machine.
constexpr uint32_t kMaxVcpus = 255;
constexpr uint64_t kMemoryAlignMiB = 2;

// QEMU parses option values split at commas (",," escapes one): a comma in
// a value would start another option, so such values are refused rather
// than escaped: no id or path of ours needs one.
Status CheckOptionValue(std::string_view what, std::string_view value) {
  if (value.empty()) return InvalidArgument("qemu: {} is empty", what);
  if (value.find(',') != std::string_view::npos)
    return InvalidArgument("qemu: {} '{}' holds a comma", what, value);
  if (value.find('\0') != std::string_view::npos)
    return InvalidArgument("qemu: {} holds a NUL byte", what);
  return Status::Ok();
}

Status CheckSocketPath(std::string_view what, std::string_view path) {
  TG_RETURN_IF_ERROR(CheckOptionValue(what, path));
  if (path.size() > kMaxSocketPath)
    return InvalidArgument("qemu: {} '{}' is longer than a Unix socket path may be ({} bytes)",
                           what, path, kMaxSocketPath);
  return Status::Ok();
}

// QEMU's rule for ids (id_wellformed): a letter, then letters, digits,
// '-', '.' and '_'.
Status CheckId(std::string_view what, std::string_view id) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  bool ok = !id.empty() && alpha(id[0]);
  for (char c : id) ok = ok && (alpha(c) || digit(c) || c == '-' || c == '.' || c == '_');
  if (!ok) return InvalidArgument("qemu: {} '{}' is not a valid QEMU id", what, id);
  return Status::Ok();
}

Status CheckMac(std::string_view mac) {
  auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  bool ok = mac.size() == 17;
  for (size_t i = 0; ok && i < mac.size(); ++i) ok = i % 3 == 2 ? mac[i] == ':' : hex(mac[i]);
  if (!ok) return InvalidArgument("qemu: MAC '{}' is not xx:xx:xx:xx:xx:xx", mac);
  return Status::Ok();
}

std::string ChardevId(const std::string& id) {
  return "chr-" + id;
}
std::string NetdevId(const std::string& id) {
  return "net-" + id;
}

// Slots 0 and 1 of the pc machine's root bus are its host and ISA bridges.
Status CheckSlot(const std::string& id, int slot) {
  if (slot != -1 && (slot < 2 || slot > 31))
    return InvalidArgument("qemu: device {} in PCI slot {} (2-31)", id, slot);
  return Status::Ok();
}

Status CheckSpec(const QemuSpec& s) {
  TG_RETURN_IF_ERROR(CheckOptionValue("binary", s.binary));
  TG_RETURN_IF_ERROR(CheckId("instance name", s.name));
  if (s.vcpus == 0 || s.vcpus > kMaxVcpus)
    return InvalidArgument("qemu: {} vCPUs (1 to {})", s.vcpus, kMaxVcpus);
  if (s.memory_mib == 0 || s.memory_mib % kMemoryAlignMiB != 0)
    return InvalidArgument("qemu: memory {} MiB is not a positive multiple of {} MiB", s.memory_mib,
                           kMemoryAlignMiB);
  TG_RETURN_IF_ERROR(CheckOptionValue("run directory", s.run_dir));
  for (const std::string& path : {QmpSocketPath(s.run_dir), SerialSocketPath(s.run_dir)})
    TG_RETURN_IF_ERROR(CheckSocketPath("socket", path));
  for (const std::string* v : {&s.smbios_manufacturer, &s.smbios_product, &s.serial}) {
    if (!v->empty()) TG_RETURN_IF_ERROR(CheckOptionValue("SMBIOS field", *v));
  }
  if (s.disks.empty()) return InvalidArgument("qemu: instance {} has no disk", s.name);
  std::set<std::string> ids;
  int boot_disks = 0;
  for (const QemuDisk& d : s.disks) {
    TG_RETURN_IF_ERROR(CheckId("disk id", d.id));
    TG_RETURN_IF_ERROR(CheckSocketPath("disk socket", d.socket));
    if (d.queues < 1) return InvalidArgument("qemu: disk {} has {} queues", d.id, d.queues);
    if (d.bootindex >= 0) ++boot_disks;
    TG_RETURN_IF_ERROR(CheckSlot(d.id, d.pci_slot));
    if (!ids.insert(d.id).second) return InvalidArgument("qemu: device id {} is used twice", d.id);
  }
  if (boot_disks > 1) return InvalidArgument("qemu: {} disks have a boot index", boot_disks);
  for (const QemuNic& n : s.nics) {
    TG_RETURN_IF_ERROR(CheckId("NIC id", n.id));
    TG_RETURN_IF_ERROR(CheckSocketPath("NIC socket", n.socket));
    TG_RETURN_IF_ERROR(CheckMac(n.mac));
    TG_RETURN_IF_ERROR(CheckSlot(n.id, n.pci_slot));
    if (!ids.insert(n.id).second) return InvalidArgument("qemu: device id {} is used twice", n.id);
  }
  return Status::Ok();
}

std::string DiskDevice(const QemuDisk& d) {
  std::string device = fmt::format("vhost-user-blk-pci,chardev={},id={},num-queues={}",
                                   ChardevId(d.id), d.id, d.queues);
  if (d.bootindex >= 0) device += fmt::format(",bootindex={}", d.bootindex);
  if (d.pci_slot >= 0) device += fmt::format(",addr={:#x}", d.pci_slot);
  return device;
}

std::string NicDevice(const QemuNic& n, Accelerator accelerator) {
  std::string device =
      fmt::format("virtio-net-pci,netdev={},id={},mac={}", NetdevId(n.id), n.id, n.mac);
  // QEMU 7.2 under TCG segfaults in msix_set_vector_notifiers when the
  // guest's driver starts a vhost-user NIC; INTx works.
  if (accelerator == Accelerator::kTcg) device += ",vectors=0";
  if (n.pci_slot >= 0) device += fmt::format(",addr={:#x}", n.pci_slot);
  return device;
}

// The client side of a vhost-user socket: reconnect=1 retries every second,
// so a restarted backend is taken back without the agent.
std::string VhostChardev(const std::string& id, const std::string& socket) {
  return fmt::format("socket,id={},path={},reconnect=1", ChardevId(id), socket);
}

nlohmann::json ChardevAddArguments(const std::string& id, const std::string& socket) {
  return {{"id", ChardevId(id)},
          {"backend",
           {{"type", "socket"},
            {"data",
             {{"addr", {{"type", "unix"}, {"data", {{"path", socket}}}}},
              {"server", false},
              {"reconnect", 1}}}}}};
}

// SMBIOS type 1; an empty field is left out, the serial defaults to the name.
std::string Smbios(const QemuSpec& s) {
  std::string out = "type=1";
  if (!s.smbios_manufacturer.empty()) out += ",manufacturer=" + s.smbios_manufacturer;
  if (!s.smbios_product.empty()) out += ",product=" + s.smbios_product;
  return out + ",serial=" + (s.serial.empty() ? s.name : s.serial);
}

}  // namespace

std::string QmpSocketPath(const std::string& run_dir) {
  return run_dir + "/qmp.sock";
}
std::string SerialSocketPath(const std::string& run_dir) {
  return run_dir + "/serial.sock";
}
std::string ConsoleLogPath(const std::string& run_dir) {
  return run_dir + "/console.log";
}
std::string PidFilePath(const std::string& run_dir) {
  return run_dir + "/qemu.pid";
}
std::string QmpEventLogPath(const std::string& run_dir) {
  return run_dir + "/qmp-events.log";
}

Result<std::vector<std::string>> BuildQemuCommand(const QemuSpec& s) {
  TG_RETURN_IF_ERROR(CheckSpec(s));
  const bool kvm = s.accelerator == Accelerator::kKvm;
  std::vector<std::string> argv = {
      s.binary,
      "-name",
      s.name,
      "-machine",
      fmt::format("pc,accel={},memory-backend=ram0", kvm ? "kvm" : "tcg"),
      "-smp",
      std::to_string(s.vcpus),
      "-m",
      fmt::format("{}M", s.memory_mib),
      // vhost-user backends map guest RAM: it must be a shareable file.
      "-object",
      fmt::format("memory-backend-memfd,id=ram0,size={}M,share=on", s.memory_mib),
      "-nodefaults",
      "-no-user-config",
      "-vga",
      "none",
      "-display",
      "none",
      "-daemonize",
      "-pidfile",
      PidFilePath(s.run_dir),
      "-qmp",
      fmt::format("unix:{},server=on,wait=off", QmpSocketPath(s.run_dir)),
      "-chardev",
      fmt::format("socket,id=serial0,path={},server=on,wait=off,logfile={},logappend=on",
                  SerialSocketPath(s.run_dir), ConsoleLogPath(s.run_dir)),
      "-serial",
      "chardev:serial0",
      "-smbios",
      Smbios(s),
  };
  if (s.incoming) {
    // Runs the moment the source's state is in: the guest's pause is the
    // migration's downtime, not that plus a round trip to the agent.
    argv.insert(argv.end(), {"-incoming", "defer"});
  } else {
    // Paused until the agent says `cont`: it runs only once its node is
    // known to hold the instance (and its lease).
    argv.push_back("-S");
  }
  // A stock guest kernel wants the host's CPU under KVM; TCG keeps QEMU's
  // default model.
  if (kvm) argv.insert(argv.end(), {"-cpu", "host"});
  for (const QemuDisk& d : s.disks)
    argv.insert(argv.end(), {"-chardev", VhostChardev(d.id, d.socket), "-device", DiskDevice(d)});
  for (const QemuNic& n : s.nics) {
    argv.insert(argv.end(),
                {"-chardev", VhostChardev(n.id, n.socket), "-netdev",
                 fmt::format("vhost-user,id={},chardev={}", NetdevId(n.id), ChardevId(n.id)),
                 "-device", NicDevice(n, s.accelerator)});
  }
  return argv;
}

std::vector<QmpStep> PlugDiskSteps(const QemuDisk& disk) {
  nlohmann::json device = {{"driver", "vhost-user-blk-pci"},
                           {"id", disk.id},
                           {"chardev", ChardevId(disk.id)},
                           {"num-queues", disk.queues}};
  return {{"chardev-add", ChardevAddArguments(disk.id, disk.socket).dump()},
          {"device_add", device.dump()}};
}

std::vector<QmpStep> PlugNicSteps(const QemuNic& nic, Accelerator accelerator) {
  nlohmann::json netdev = {
      {"type", "vhost-user"}, {"id", NetdevId(nic.id)}, {"chardev", ChardevId(nic.id)}};
  nlohmann::json device = {
      {"driver", "virtio-net-pci"}, {"id", nic.id}, {"netdev", NetdevId(nic.id)}, {"mac", nic.mac}};
  if (accelerator == Accelerator::kTcg) device["vectors"] = 0;
  return {{"chardev-add", ChardevAddArguments(nic.id, nic.socket).dump()},
          {"netdev_add", netdev.dump()},
          {"device_add", device.dump()}};
}

}  // namespace tg::compute
