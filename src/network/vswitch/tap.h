// A TAP device: the vSwitch's end of a guest's NIC (or of a network
// namespace standing in for one). Frames with a virtio_net_hdr
// (IFF_VNET_HDR) and checksum and TCP segmentation offloads on: the guest's
// stack hands over whole 64 KiB TCP segments with partial checksums,
// described by an Offload (packet.h); frames written carry none. The device may
// be moved into another namespace and keeps working through this fd. It is
// persistent: it outlives the vSwitch process, which attaches to it again
// when it restarts (also in the named namespace it was moved to, which the
// vSwitch remembers).
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/asio.h"
#include "base/status.h"
#include "network/datapath/packet.h"

namespace tg::network {

class TapPort {
 public:
  // Creates (or attaches to) the TAP device `name` (at most 15 characters)
  // and brings it up. `netns`, if not 0: the inode of the named network
  // namespace the device was last seen in (see Namespace()): it is looked
  // for there first. Only there: a device of the same name elsewhere may
  // be another vSwitch's.
  static Result<std::unique_ptr<TapPort>> Open(Executor ex, const std::string& name,
                                               uint64_t netns = 0);
  // The inode of the network namespace the device is in now (0 if unknown).
  uint64_t Namespace();
  ~TapPort();

  const std::string& name() const { return name_; }
  // One frame into `buf` and what its sender left to offloads; Cancelled
  // when closed.
  Task<Result<size_t>> Read(std::span<uint8_t> buf, Offload* offload);
  // One more frame if one is waiting (0 if none), without waiting.
  size_t TryRead(std::span<uint8_t> buf, Offload* offload);
  // One frame out (complete, or with `offload` left to the receiving
  // stack); a full queue drops it (the guest is not reading).
  Status Write(std::span<const uint8_t> frame, const Offload& offload = {});
  // Closes this end; the device stays (a restarted vSwitch attaches again).
  void Close();
  // Closes and removes the device (its interface is gone).
  void Destroy();

 private:
  TapPort(Executor ex, int fd, std::string name);
  asio::posix::stream_descriptor fd_;
  std::string name_;
  uint8_t header_[kVnetHeader] = {};  // the virtio_net_hdr of the frame read last
};

}  // namespace tg::network
