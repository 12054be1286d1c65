// What the compute agent needs from the rest of its host, as two small
// interfaces: the block data plane (a volume served to a guest on a
// vhost-user-blk socket, attached at run time) and the vSwitch's ports (the
// vhost-user-net socket of an interface bound to this host). The host role
// implements them; the agent never sees a volume or a frame.
#pragma once

#include <cstdint>
#include <string>

#include "base/async.h"
#include "base/status.h"

namespace tg::compute {

class DiskPlane {
 public:
  virtual ~DiskPlane() = default;
  // Opens distributed volume `volume` as its single writer (its epoch fences
  // any earlier one) and serves it on `socket` with `queues` queues. Already
  // attached: Ok (the same socket goes on serving).
  virtual Task<Status> Attach(const std::string& volume, const std::string& socket,
                              uint16_t queues) = 0;
  // The same for a live migration's destination: served now, opened as
  // its writer (the epoch raised, the source fenced) only at the guest's
  // first request, which comes after the switch-over.
  virtual Task<Status> AttachIncoming(const std::string& volume, const std::string& socket,
                                      uint16_t queues) = 0;
  // Stops serving, flushes and releases the volume. Not attached: Ok.
  virtual Task<Status> Detach(const std::string& volume) = 0;
  virtual bool Attached(const std::string& volume) const = 0;
};

class NicPlane {
 public:
  virtual ~NicPlane() = default;
  // Binds interface `eni` to this host (the vSwitch then serves it) and
  // returns its vhost-user-net socket once it listens.
  virtual Task<Result<std::string>> Plug(const std::string& eni, Duration timeout) = 0;
  // A live migration's destination: the vSwitch here opens the port too
  // (returned once it listens), while frames still go to the source. Plug
  // at the switch-over moves them here.
  virtual Task<Result<std::string>> PlugStandby(const std::string& eni, Duration timeout) = 0;
  // Releases the interface, or its standby here (the vSwitch removes its port).
  virtual Task<Status> Unplug(const std::string& eni) = 0;
};

}  // namespace tg::compute
