#include "network/gateway/uplink.h"

#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace tg::network {

Result<std::unique_ptr<UplinkPort>> UplinkPort::Open(Executor ex, const std::string& device) {
  if (device.empty() || device.size() >= IFNAMSIZ)
    return InvalidArgument("uplink device name '{}' is empty or too long", device);
  const unsigned index = if_nametoindex(device.c_str());
  if (index == 0) return ErrnoStatus(errno, "uplink device " + device);
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return ErrnoStatus(errno, "packet socket");
  sockaddr_ll at{};
  at.sll_family = AF_PACKET;
  at.sll_protocol = htons(ETH_P_ALL);
  at.sll_ifindex = static_cast<int>(index);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, device.c_str(), IFNAMSIZ - 1);
  const int on = 1;  // PACKET_AUXDATA: says which frames carry an unfinished checksum
  if (::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0 ||
      ::setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &on, sizeof on) != 0 ||
      ::ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
    Status s = ErrnoStatus(errno, "uplink " + device);
    ::close(fd);
    return s;
  }
  Mac mac;
  std::memcpy(mac.bytes.data(), ifr.ifr_hwaddr.sa_data, 6);
  // Frames as they were on the wire: the kernel's receive offload (GRO)
  // would hand over merged TCP segments larger than any sender sent.
  ethtool_value gro{.cmd = ETHTOOL_SGRO, .data = 0};
  ifreq off{};
  std::strncpy(off.ifr_name, device.c_str(), IFNAMSIZ - 1);
  off.ifr_data = reinterpret_cast<char*>(&gro);
  (void)::ioctl(fd, SIOCETHTOOL, &off);  // best effort: a device may have none
  return std::unique_ptr<UplinkPort>(new UplinkPort(ex, fd, device, mac));
}

UplinkPort::UplinkPort(Executor ex, int fd, std::string name, Mac mac)
    : fd_(ex, fd), name_(std::move(name)), mac_(mac) {}

UplinkPort::~UplinkPort() {
  Close();
}

Task<Result<size_t>> UplinkPort::Read(std::span<uint8_t> buf, bool* checksum_pending) {
  for (;;) {
    boost::system::error_code ec;
    co_await fd_.async_wait(asio::posix::descriptor_base::wait_read,
                            asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !fd_.is_open())
      co_return Cancelled("uplink {} closed", name_);
    if (ec) co_return Unavailable("uplink {}: {}", name_, ec.message());
    sockaddr_ll from{};
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_.native_handle(), &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      co_return ErrnoStatus(errno, "read from uplink " + name_);
    }
    if (from.sll_pkttype != PACKET_HOST && from.sll_pkttype != PACKET_BROADCAST) continue;
    if (msg.msg_flags & MSG_TRUNC) continue;  // longer than any frame we take
    // A frame from a local sender that left its checksum to the NIC
    // (offload): only the pseudo-header's sum is in it.
    *checksum_pending = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
        *checksum_pending = aux.tp_status & TP_STATUS_CSUMNOTREADY;
      }
    }
    co_return static_cast<size_t>(n);
  }
}

Status UplinkPort::Write(std::span<const uint8_t> frame) {
  if (!fd_.is_open()) return Cancelled("uplink {} closed", name_);
  if (::send(fd_.native_handle(), frame.data(), frame.size(), MSG_DONTWAIT) < 0)
    return ErrnoStatus(errno, "write to uplink " + name_);
  return Status::Ok();
}

void UplinkPort::Close() {
  boost::system::error_code ec;
  fd_.close(ec);
}

}  // namespace tg::network
