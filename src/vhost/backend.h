// A vhost-user backend, device-independent: the frontend (QEMU) connects on a
// Unix socket, shares guest memory and the rings, and kicks us through
// eventfds; we call it back through eventfds. A Device (virtio-blk now,
// virtio-net later) supplies features, config space and the handling of each
// descriptor chain.
//
// Reconnect: with the inflight-fd protocol feature, the state of every chain
// taken but not yet returned lives in a shared memory region the frontend
// keeps. A restarted backend reads it back and resubmits those chains, so
// the guest sees no error when the backend is killed mid-I/O.
//
// A malformed message closes the connection; a broken ring stops that queue
// (and says why in the log). Neither stops the process. Every file the
// frontend hands over is mapped only through virtio::SharedMapping (checked
// against the file, guarded if it could shrink; the dirty log too, when
// migration comes), and ring sizes must fit the inflight region's queues.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/unique_fd.h"
#include "virtio/split_queue.h"

namespace tg::vhost {

class Device {
 public:
  virtual ~Device() = default;
  virtual uint64_t Features() const = 0;  // device-specific virtio feature bits
  virtual uint16_t NumQueues() const = 0;
  virtual std::vector<uint8_t> Config() const = 0;
  // Handles one chain of queue `queue`; returns the bytes written into its
  // device-writable buffers. The chain's memory stays mapped until it returns.
  virtual Task<uint32_t> Process(uint16_t queue, virtio::Chain chain) = 0;
  // Handles a chain at once, without a coroutine, if the device can (a
  // NIC's transmit queue): true, with the bytes written. False: Process.
  virtual bool ProcessNow(uint16_t /*queue*/, const virtio::Chain& /*chain*/,
                          uint32_t* /*written*/) {
    return false;
  }
  // Queue `queue` stops (the frontend asked for its base, or left): chains a
  // device holds until it has data for them (a NIC's receive buffers) must
  // be finished now, or the stop waits for them.
  virtual void Stop(uint16_t /*queue*/) {}
  // The features the frontend acked (they change how some devices lay out
  // their buffers).
  virtual void SetFeatures(uint64_t /*features*/) {}
  // Whether the device has a config space the backend serves (blk) or the
  // frontend keeps its own (net, whose QEMU frontend refuses to be asked),
  // and whether it keeps requests in flight across a reconnect.
  virtual bool ServesConfig() const { return true; }
  virtual bool TracksInflight() const { return true; }
};

class Connection;

// Serves frontends on a Unix socket, one connection at a time (a reconnecting
// QEMU comes back on the same path).
class Server {
 public:
  Server(Executor ex, Device& device, std::string path);
  ~Server();
  Status Listen();
  Task<void> Run();
  // No more connections; the current one is closed (its rings stop).
  Task<void> Stop();
  const std::string& path() const { return path_; }

 private:
  Executor ex_;
  Device& device_;
  std::string path_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
  bool stopping_ = false;
  Connection* active_ = nullptr;
};

// Serves one connection until it closes or breaks the protocol.
Task<Status> ServeConnection(Executor ex, Device& device,
                             asio::local::stream_protocol::socket socket);

}  // namespace tg::vhost
