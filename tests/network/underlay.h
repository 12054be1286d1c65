// The test underlay of the VPC end-to-end tests, on one machine: "hosts"
// are network namespaces joined by a bridge, "guests" are namespaces whose
// NIC is the TAP port a vSwitch made for their interface. Everything it
// makes is removed when it goes.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/unique_fd.h"
#include "network/model/vpc.h"

namespace tg::testing {

inline bool Sh(const std::string& cmd) {
  return std::system(cmd.c_str()) == 0;
}

// The underlay: bridge b<pid> with 10.98.N.254 here, host i at 10.98.N.i.
// N is this underlay's alone while it lives (tests run in parallel, each in
// its own process): see ClaimSubnet.
class Underlay {
 public:
  explicit Underlay(int hosts) : tag_(std::to_string(getpid())), n_(ClaimSubnet(claim_)) {
    ok_ = n_ >= 0 && Sh(fmt::format("ip link add b{} type bridge", tag_)) &&
          Sh(fmt::format("ip addr add {}/24 dev b{}", local_ip(), tag_)) &&
          Sh(fmt::format("ip link set b{} up", tag_));
    for (int i = 1; ok_ && i <= hosts; ++i) {
      const std::string ns = host_ns(i), veth = fmt::format("u{}h{}", tag_, i);
      ok_ = Sh("ip netns add " + ns) &&
            Sh(fmt::format("ip link add {} type veth peer name eth0 netns {}", veth, ns)) &&
            Sh(fmt::format("ip link set {} master b{} up", veth, tag_)) &&
            Sh(fmt::format("ip -n {} addr add {}/24 dev eth0", ns, host_ip(i))) &&
            Sh(fmt::format("ip -n {} link set eth0 up", ns)) &&
            Sh(fmt::format("ip -n {} link set lo up", ns));
      hosts_ = i;
    }
  }
  ~Underlay() {
    for (const auto& g : guests_) Sh("ip netns del " + g + " 2>/dev/null");
    for (int i = 1; i <= hosts_; ++i) {
      Sh(fmt::format("ip link del u{}h{} 2>/dev/null", tag_, i));
      Sh("ip netns del " + host_ns(i) + " 2>/dev/null");
    }
    Sh(fmt::format("ip link del b{} 2>/dev/null", tag_));
  }
  bool ok() const { return ok_; }
  std::string local_ip() const { return fmt::format("10.98.{}.254", n_); }
  std::string host_ip(int i) const { return fmt::format("10.98.{}.{}", n_, i); }
  std::string host_ns(int i) const { return fmt::format("h{}x{}", i, tag_); }
  // Cuts host i off from the bridge (etcd, the chunkservers, the other
  // hosts' tunnels), or joins it again: its side of the veth down or up.
  bool SetHostLink(int i, bool up) {
    return Sh(fmt::format("ip link set u{}h{} {}", tag_, i, up ? "up" : "down"));
  }

  // A guest namespace whose NIC is the interface's TAP port, moved there
  // from the host's namespace once the vSwitch has made it, with the
  // interface's MAC (as a VM's NIC would have).
  bool AttachGuest(const std::string& name, int host, const network::NetworkInterface& eni) {
    const std::string ns = fmt::format("{}x{}", name, tag_), tap = network::TapName(eni.id);
    bool made = false;
    for (int i = 0; i < 100 && !made; ++i) {
      made = Sh(fmt::format("ip -n {} link show {} >/dev/null 2>&1", host_ns(host), tap));
      if (!made) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!made || !Sh("ip netns add " + ns)) return false;
    guests_.push_back(ns);
    return Sh(fmt::format("ip -n {} link set {} netns {}", host_ns(host), tap, ns)) &&
           Sh(fmt::format("ip -n {} link set {} address {}", ns, tap, eni.mac.ToString())) &&
           Sh(fmt::format("ip -n {} link set {} up", ns, tap)) &&
           Sh(fmt::format("ip -n {} link set lo up", ns));
  }
  // ... its address and route set by hand,
  bool AddGuest(const std::string& name, int host, const network::NetworkInterface& eni, int prefix,
                const std::string& gateway) {
    const std::string ns = fmt::format("{}x{}", name, tag_), tap = network::TapName(eni.id);
    return AttachGuest(name, host, eni) &&
           Sh(fmt::format("ip -n {} addr add {}/{} dev {}", ns, eni.ip.ToString(), prefix, tap)) &&
           Sh(fmt::format("ip -n {} route add default via {}", ns, gateway));
  }
  // ... or learnt by DHCP (busybox udhcpc).
  bool AddDhcpGuest(const std::string& name, int host, const network::NetworkInterface& eni,
                    const std::string& script) {
    const std::string ns = fmt::format("{}x{}", name, tag_), tap = network::TapName(eni.id);
    return AttachGuest(name, host, eni) &&
           Sh(fmt::format("ip netns exec {} busybox udhcpc -i {} -n -q -t 5 -T 1 -s {} "
                          ">/dev/null 2>&1",
                          ns, tap, script));
  }
  // A bare namespace (a network outside the cloud), removed at the end.
  bool AddNamespace(const std::string& name) {
    if (!Sh("ip netns add " + ns(name))) return false;
    guests_.push_back(ns(name));
    return Sh(fmt::format("ip -n {} link set lo up", ns(name)));
  }
  // The full name of a guest's or AddNamespace's namespace.
  std::string ns(const std::string& name) const { return fmt::format("{}x{}", name, tag_); }
  std::string Run(const std::string& guest, const std::string& cmd) {
    const std::string full = fmt::format("ip netns exec {}x{} {}", guest, tag_, cmd);
    std::string out;
    if (FILE* p = popen(full.c_str(), "r")) {
      char buf[512];
      while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
      pclose(p);
    }
    return out;
  }
  bool InHost(int host, const std::string& cmd) {
    return Sh(fmt::format("ip netns exec {} {}", host_ns(host), cmd));
  }
  bool PingOnce(const std::string& guest, const std::string& ip) {
    return Sh(fmt::format("ip netns exec {}x{} busybox ping -c 1 -W 1 {} >/dev/null 2>&1", guest,
                          tag_, ip));
  }
  bool Ping(const std::string& guest, const std::string& ip) {
    return Sh(fmt::format("ip netns exec {}x{} busybox ping -c 2 -W 2 {} >/dev/null 2>&1", guest,
                          tag_, ip));
  }
  // Whether a TCP listener on `port` appears in the guest within `timeout`.
  bool WaitForListener(const std::string& guest, int port,
                       std::chrono::seconds timeout = std::chrono::seconds(30)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    const std::string wanted = fmt::format(":{} ", port);
    while (Run(guest, "ss -ltnH").find(wanted) == std::string::npos) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

 private:
  // A /24 of 10.98.0.0/16 (N in 20..219) that no other underlay of a live
  // process holds: N is claimed by an exclusive lock on a file named for it,
  // held for this underlay's life (the kernel drops it if the process dies),
  // and one that an address of this machine already uses is passed over.
  // -1 if none is free.
  static int ClaimSubnet(UniqueFd& claim) {
    for (int n = 20; n < 220; ++n) {
      const std::string lock =
          (std::filesystem::temp_directory_path() / fmt::format("tiangong-underlay-{}.lock", n))
              .string();
      UniqueFd fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
      if (!fd.valid() || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
      if (Sh(fmt::format("ip -4 -o addr show | grep -q ' 10\\.98\\.{}\\.'", n))) continue;
      claim = std::move(fd);
      return n;
    }
    return -1;
  }

  UniqueFd claim_;  // declared before n_: initialized first
  std::string tag_;
  int n_;
  int hosts_ = 0;
  bool ok_ = false;
  std::vector<std::string> guests_;
};

}  // namespace tg::testing
