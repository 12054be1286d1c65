#include "network/vswitch/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>

namespace tg::network {

TapPort::TapPort(Executor ex, int fd, std::string name) : fd_(ex, fd), name_(std::move(name)) {}

TapPort::~TapPort() {
  Close();
}

namespace {

// Attaches to (or creates) the TAP device `name` in the caller's namespace.
int AttachTap(const std::string& name) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0 ||
      ::ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// A persistent device moved into another network namespace (a guest's):
// attached to from inside that namespace (the named one whose inode is
// `netns`); the fd then works from here.
int AttachInNamespace(const std::string& name, uint64_t netns) {
  std::error_code ec;
  if (!std::filesystem::is_directory("/run/netns", ec)) return -1;
  const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return -1;
  int found = -1;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    struct stat st;
    if (::stat(e.path().c_str(), &st) != 0 || st.st_ino != netns) continue;
    const int ns = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) continue;
    if (::setns(ns, CLONE_NEWNET) == 0) {
      if (::if_nametoindex(name.c_str()) != 0) found = AttachTap(name);
      (void)::setns(home, CLONE_NEWNET);
    }
    ::close(ns);
    break;
  }
  ::close(home);
  return found;
}

}  // namespace

Result<std::unique_ptr<TapPort>> TapPort::Open(Executor ex, const std::string& name,
                                               uint64_t netns) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return InvalidArgument("TAP name '{}' must have 1 to {} characters", name, IFNAMSIZ - 1);
  }
  // The device may outlive a restart of the vSwitch (it is persistent), here
  // or in the namespace it was moved to; else it is made here.
  int fd = -1;
  if (netns != 0 && ::if_nametoindex(name.c_str()) == 0) fd = AttachInNamespace(name, netns);
  if (fd < 0) fd = AttachTap(name);
  if (fd < 0) return ErrnoStatus(errno, "create TAP " + name);
  if (::ioctl(fd, TUNSETPERSIST, 1) != 0) {
    Status s = ErrnoStatus(errno, "make TAP " + name + " persistent");
    ::close(fd);
    return s;
  }
  // Up, so that frames flow as soon as the other side is configured.
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock >= 0) {
    ifreq up{};
    std::memcpy(up.ifr_name, name.data(), name.size());
    if (::ioctl(sock, SIOCGIFFLAGS, &up) == 0) {
      up.ifr_flags |= IFF_UP;
      (void)::ioctl(sock, SIOCSIFFLAGS, &up);
    }
    ::close(sock);
  }
  return std::unique_ptr<TapPort>(new TapPort(ex, fd, name));
}

uint64_t TapPort::Namespace() {
  if (!fd_.is_open()) return 0;
  const int ns = ::ioctl(fd_.native_handle(), TUNGETDEVNETNS);
  if (ns < 0) return 0;
  struct stat st;
  const uint64_t ino = ::fstat(ns, &st) == 0 ? st.st_ino : 0;
  ::close(ns);
  return ino;
}

void TapPort::Destroy() {
  if (fd_.is_open()) (void)::ioctl(fd_.native_handle(), TUNSETPERSIST, 0);
  Close();
}

Task<Result<size_t>> TapPort::Read(std::span<uint8_t> buf, Offload* offload) {
  for (;;) {
    boost::system::error_code ec;
    std::array<asio::mutable_buffer, 2> parts = {asio::buffer(header_, kVnetHeader),
                                                 asio::buffer(buf.data(), buf.size())};
    size_t n = co_await fd_.async_read_some(parts, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
      co_return Cancelled("TAP {} closed", name_);
    if (ec) co_return Unavailable("TAP {}: {}", name_, ec.message());
    if (n > kVnetHeader && ParseVnetHeader(header_, n - kVnetHeader, offload))
      co_return n - kVnetHeader;
  }
}

size_t TapPort::TryRead(std::span<uint8_t> buf, Offload* offload) {
  while (fd_.is_open()) {
    iovec parts[2] = {{header_, kVnetHeader}, {buf.data(), buf.size()}};
    const ssize_t n = ::readv(fd_.native_handle(), parts, 2);
    if (n <= 0) return 0;
    if (static_cast<size_t>(n) > kVnetHeader &&
        ParseVnetHeader(header_, static_cast<size_t>(n) - kVnetHeader, offload))
      return static_cast<size_t>(n) - kVnetHeader;
  }
  return 0;
}

Status TapPort::Write(std::span<const uint8_t> frame, const Offload& o) {
  if (!fd_.is_open()) return Cancelled("TAP {} closed", name_);
  uint8_t h[kVnetHeader];
  WriteVnetHeader(o, h);
  iovec parts[2] = {{h, kVnetHeader}, {const_cast<uint8_t*>(frame.data()), frame.size()}};
  ssize_t n = ::writev(fd_.native_handle(), parts, 2);
  if (n < 0) return ErrnoStatus(errno, "write to TAP " + name_);
  return Status::Ok();
}

void TapPort::Close() {
  boost::system::error_code ec;
  fd_.close(ec);
}

}  // namespace tg::network
