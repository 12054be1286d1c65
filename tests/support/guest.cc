#include "support/guest.h"

#include <sys/wait.h>

namespace tg::testing {

namespace {
std::string GuestDir() {
  return std::string(TG_BUILD_DIR) + "/guest";
}
}  // namespace

Status BuildTestGuest(const std::string& log) {
  auto build = ChildProcess::Spawn(
      {.argv = {std::string(TG_SOURCE_DIR) + "/tests/guest/build-guest", GuestDir()},
       .output_path = log});
  if (!build.ok()) return build.status();
  auto st = build->Wait(std::chrono::seconds(300));
  if (!st.ok()) return st.status();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return Internal("building the guest failed; see {}", log);
  return Status::Ok();
}

Result<ChildProcess> StartTestGuest(const GuestOptions& o) {
  const std::string reconnect = o.reconnect ? ",reconnect=1" : "";
  std::vector<std::string> devices;
  if (!o.vhost_socket.empty()) {
    devices.insert(devices.end(),
                   {"-chardev", "socket,id=c0,path=" + o.vhost_socket + reconnect, "-device",
                    fmt::format("vhost-user-blk-pci,chardev=c0,num-queues={}", o.queues)});
  }
  if (!o.net_socket.empty()) {
    devices.insert(
        devices.end(),
        {"-chardev", "socket,id=c1,path=" + o.net_socket + reconnect, "-netdev",
         fmt::format("vhost-user,id=n1,chardev=c1,queues={}", o.net_queue_pairs), "-device",
         // vectors=0 (INTx): QEMU 7.2 under TCG crashes setting up MSI-X
         // notifiers for a vhost-user NIC (msix_set_vector_notifiers).
         fmt::format("virtio-net-pci,netdev=n1,mac={},mq={},vectors=0", o.net_mac,
                     o.net_queue_pairs > 1 ? "on" : "off")});
  }
  std::vector<std::string> argv = {"qemu-system-x86_64",
                                   "-accel",
                                   "tcg",
                                   "-m",
                                   "512",
                                   "-smp",
                                   "2",
                                   "-nographic",
                                   "-no-reboot",
                                   "-kernel",
                                   GuestDir() + "/vmlinuz",
                                   "-initrd",
                                   GuestDir() + "/initramfs.img",
                                   "-append",
                                   "console=ttyS0 quiet tg.test=" + o.test + " " + o.cmdline,
                                   "-object",
                                   "memory-backend-memfd,id=mem,size=512M,share=on",
                                   "-numa",
                                   "node,memdev=mem",
                                   "-nic",
                                   "none"};
  argv.insert(argv.end(), devices.begin(), devices.end());
  return ChildProcess::Spawn({.argv = argv, .output_path = o.console});
}

std::string GuestPatternMiB(int i) {
  std::string unit = fmt::format("tiangong-block-{}-\n", i), out;
  while (out.size() < (1u << 20)) out += unit;
  out.resize(1u << 20);
  return out;
}

}  // namespace tg::testing
