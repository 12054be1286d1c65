// The test guest: QEMU under TCG with Debian's kernel and a busybox
// initramfs (tests/guest), a vhost-user-blk disk and/or a vhost-user-net NIC. The guest runs
// tests/guest/<test>.sh and prints "TG-GUEST: RESULT OK" when it passes.
#pragma once

#include <string>

#include "base/process.h"

namespace tg::testing {

// Builds (or reuses) the guest image; the build's output goes to `log`.
Status BuildTestGuest(const std::string& log);

struct GuestOptions {
  std::string test;          // which tests/guest/<test>.sh to run
  std::string vhost_socket;  // the disk's vhost-user-blk socket (empty: no disk)
  std::string console;       // where the guest's console goes
  bool reconnect = false;    // QEMU reconnects if the backend goes away
  int queues = 2;
  std::string net_socket;  // the NIC's vhost-user-net socket (empty: no NIC)
  std::string net_mac;
  int net_queue_pairs = 2;
  std::string cmdline;  // more kernel command line (tg.ping=... for net.sh)
};
Result<ChildProcess> StartTestGuest(const GuestOptions& options);

// What tests/guest/pattern.sh writes into MiB number `i` of the disk.
std::string GuestPatternMiB(int i);

}  // namespace tg::testing
