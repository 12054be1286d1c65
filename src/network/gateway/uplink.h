// A gateway node's uplink: a network device on the public network (a NIC,
// or a veth standing in for one), read and written as raw Ethernet frames
// (AF_PACKET). The device carries no address of the node's own: the
// gateway answers for its public addresses itself.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/asio.h"
#include "base/status.h"
#include "network/model/address.h"

namespace tg::network {

class UplinkPort {
 public:
  static Result<std::unique_ptr<UplinkPort>> Open(Executor ex, const std::string& device);
  ~UplinkPort();

  const std::string& name() const { return name_; }
  Mac mac() const { return mac_; }
  // The next frame for this host (or broadcast); Cancelled when closed.
  // Frames this socket sent and frames for other hosts are skipped.
  // `checksum_pending`: its TCP/UDP checksum is still to be computed (its
  // sender on this machine offloaded it).
  Task<Result<size_t>> Read(std::span<uint8_t> buf, bool* checksum_pending);
  Status Write(std::span<const uint8_t> frame);
  void Close();

 private:
  UplinkPort(Executor ex, int fd, std::string name, Mac mac);
  asio::posix::stream_descriptor fd_;
  std::string name_;
  Mac mac_;
};

}  // namespace tg::network
