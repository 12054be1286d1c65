#include "network/vswitch/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace tg::network {

TapPort::TapPort(Executor ex, int fd, std::string name) : fd_(ex, fd), name_(std::move(name)) {}

TapPort::~TapPort() {
  Close();
}

Result<std::unique_ptr<TapPort>> TapPort::Open(Executor ex, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return InvalidArgument("TAP name '{}' must have 1 to {} characters", name, IFNAMSIZ - 1);
  }
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    Status s = ErrnoStatus(errno, "create TAP " + name);
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

Task<Result<size_t>> TapPort::Read(std::span<uint8_t> buf) {
  boost::system::error_code ec;
  size_t n = co_await fd_.async_read_some(asio::buffer(buf.data(), buf.size()),
                                          asio::redirect_error(asio::use_awaitable, ec));
  if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor)
    co_return Cancelled("TAP {} closed", name_);
  if (ec) co_return Unavailable("TAP {}: {}", name_, ec.message());
  co_return n;
}

Status TapPort::Write(std::span<const uint8_t> frame) {
  if (!fd_.is_open()) return Cancelled("TAP {} closed", name_);
  ssize_t n = ::write(fd_.native_handle(), frame.data(), frame.size());
  if (n < 0) return ErrnoStatus(errno, "write to TAP " + name_);
  return Status::Ok();
}

void TapPort::Close() {
  boost::system::error_code ec;
  fd_.close(ec);
}

}  // namespace tg::network
