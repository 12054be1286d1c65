// virtio-net over vhost-user: the device side of a guest's NIC, as a port of
// the vSwitch. Transmit queues (odd numbers) hand each frame the guest sends
// to `on_frame`; receive queues (even numbers) keep the buffers the guest
// posts until a frame comes for them (Deliver). Mergeable receive buffers
// (one frame may fill several) and multiqueue (a flow stays on one receive
// queue). No offloads are offered: the 12-byte header of virtio 1.x carries
// only the number of buffers a received frame took.
// Thread-safety: one executor (the vSwitch's).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "base/async.h"
#include "vhost/backend.h"

namespace tg::vhost_net {

inline constexpr uint64_t kFMrgRxbuf = 1ull << 15;
inline constexpr uint64_t kFMq = 1ull << 22;
inline constexpr size_t kNetHeader = 12;  // virtio_net_hdr with num_buffers
inline constexpr size_t kMaxFrame = 65535;

class NetDevice final : public vhost::Device {
 public:
  using OnFrame = std::function<void(std::span<uint8_t> frame)>;
  NetDevice(Executor ex, uint16_t queue_pairs, OnFrame on_frame);

  uint64_t Features() const override { return kFMrgRxbuf | kFMq; }
  uint16_t NumQueues() const override { return static_cast<uint16_t>(2 * rx_.size()); }
  std::vector<uint8_t> Config() const override { return {}; }  // the frontend's own
  Task<uint32_t> Process(uint16_t queue, virtio::Chain chain) override;
  // Transmit queues: each frame is passed on at once.
  bool ProcessNow(uint16_t queue, const virtio::Chain& chain, uint32_t* written) override;
  void Stop(uint16_t queue) override;
  void SetFeatures(uint64_t features) override { mergeable_ = features & kFMrgRxbuf; }
  // QEMU's virtio-net keeps its own config, and resumes the rings from
  // their used index after a reconnect (receive buffers held here are
  // simply taken again).
  bool ServesConfig() const override { return false; }
  bool TracksInflight() const override { return false; }

  // Copies `frame` into receive buffers the guest posted, on the queue its
  // flow hashes to (or any with room). False: dropped, no room (the guest
  // is not reading, or not yet up).
  bool Deliver(std::span<const uint8_t> frame);

  uint64_t sent() const { return sent_; }  // frames from the guest
  uint64_t received() const { return received_; }
  uint64_t dropped() const { return dropped_; }  // to the guest, for want of buffers
  uint64_t malformed() const { return malformed_; }

 private:
  struct Posted {  // a receive buffer, until a frame fills it
    explicit Posted(Executor ex, virtio::Chain c) : chain(std::move(c)), done(ex) {}
    virtio::Chain chain;
    uint32_t written = 0;
    Event done;
  };
  // The chains of `queue` that hold `bytes`, from the oldest; empty if not enough.
  size_t ChainsFor(const std::deque<std::shared_ptr<Posted>>& queue, size_t bytes) const;

  Executor ex_;
  OnFrame on_frame_;
  std::vector<std::deque<std::shared_ptr<Posted>>> rx_;  // per queue pair
  std::vector<uint8_t> tx_buffer_;
  bool mergeable_ = false;
  uint64_t sent_ = 0, received_ = 0, dropped_ = 0, malformed_ = 0;
};

}  // namespace tg::vhost_net
