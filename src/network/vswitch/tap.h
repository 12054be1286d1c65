// A TAP device: the vSwitch's end of a guest's NIC (or of a network
// namespace standing in for one). Frames only (IFF_NO_PI); the device may
// be moved into another namespace and keeps working through this fd. It is
// persistent: it outlives the vSwitch process, which attaches to it again
// when it restarts (also in a named namespace it was moved to).
#pragma once

#include <memory>
#include <span>
#include <string>

#include "base/asio.h"
#include "base/status.h"

namespace tg::network {

class TapPort {
 public:
  // Creates (or attaches to) the TAP device `name` (at most 15 characters)
  // and brings it up.
  static Result<std::unique_ptr<TapPort>> Open(Executor ex, const std::string& name);
  ~TapPort();

  const std::string& name() const { return name_; }
  // One frame into `buf`; Cancelled when closed.
  Task<Result<size_t>> Read(std::span<uint8_t> buf);
  // One frame out; a full queue drops it (the guest is not reading).
  Status Write(std::span<const uint8_t> frame);
  // Closes this end; the device stays (a restarted vSwitch attaches again).
  void Close();
  // Closes and removes the device (its interface is gone).
  void Destroy();

 private:
  TapPort(Executor ex, int fd, std::string name);
  asio::posix::stream_descriptor fd_;
  std::string name_;
};

}  // namespace tg::network
