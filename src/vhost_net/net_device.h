// virtio-net over vhost-user: the device side of a guest's NIC, as a port of
// the vSwitch. Transmit queues (odd numbers) hand each frame the guest sends
// to `on_frame`; receive queues (even numbers) keep the buffers the guest
// posts until a frame comes for them (Deliver). Mergeable receive buffers
// (one frame may fill several) and multiqueue (a flow stays on one receive
// queue). Checksum and TCP segmentation offloads both ways: the 12-byte
// header of virtio 1.x (the offload description, then the number of
// buffers a received frame took) is passed to and taken from the vSwitch,
// which reads and writes its first 10 bytes.
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

inline constexpr uint64_t kFCsum = 1ull << 0;       // the guest's frames may have partial checksums
inline constexpr uint64_t kFGuestCsum = 1ull << 1;  // ... and so may ours to it
inline constexpr uint64_t kFGuestTso4 = 1ull << 7;  // we may give it large TCP/IPv4 segments
inline constexpr uint64_t kFHostTso4 = 1ull << 11;  // it may give us large TCP/IPv4 segments
inline constexpr uint64_t kFMrgRxbuf = 1ull << 15;
inline constexpr uint64_t kFMq = 1ull << 22;
inline constexpr size_t kNetHeader = 12;         // virtio_net_hdr with num_buffers
inline constexpr size_t kOffloadHeader = 10;     // its offload part
inline constexpr size_t kMaxFrame = 14 + 65535;  // Ethernet and the largest IPv4 packet

class NetDevice final : public vhost::Device {
 public:
  // A frame the guest sent, and the offload part of its header.
  using OnFrame = std::function<void(std::span<uint8_t> frame,
                                     std::span<const uint8_t, kOffloadHeader> offload)>;
  NetDevice(Executor ex, uint16_t queue_pairs, OnFrame on_frame);

  uint64_t Features() const override {
    return kFCsum | kFGuestCsum | kFGuestTso4 | kFHostTso4 | kFMrgRxbuf | kFMq;
  }
  uint16_t NumQueues() const override { return static_cast<uint16_t>(2 * rx_.size()); }
  std::vector<uint8_t> Config() const override { return {}; }  // the frontend's own
  Task<uint32_t> Process(uint16_t queue, virtio::Chain chain) override;
  // Transmit queues: each frame is passed on at once.
  bool ProcessNow(uint16_t queue, const virtio::Chain& chain, uint32_t* written) override;
  void Stop(uint16_t queue) override;
  void SetFeatures(uint64_t features) override {
    mergeable_ = features & kFMrgRxbuf;
    features_ = features;
  }
  // What the guest's driver accepted: frames with a partial checksum, and
  // large TCP/IPv4 segments (which also carry one).
  bool TakesPartialChecksums() const { return features_ & kFGuestCsum; }
  // What it said it may send: partial checksums, large segments.
  bool SendsPartialChecksums() const { return features_ & kFCsum; }
  bool SendsLargeSegments() const {
    return (features_ & (kFCsum | kFHostTso4)) == (kFCsum | kFHostTso4);
  }
  bool TakesLargeSegments() const {
    return (features_ & (kFGuestCsum | kFGuestTso4)) == (kFGuestCsum | kFGuestTso4);
  }
  // QEMU's virtio-net keeps its own config, and resumes the rings from
  // their used index after a reconnect (receive buffers held here are
  // simply taken again).
  bool ServesConfig() const override { return false; }
  bool TracksInflight() const override { return false; }

  // Copies `frame`, after `offload` (the header's offload part; none if
  // empty), into receive buffers the guest posted, on the queue its flow
  // hashes to (or any with room). False: dropped, no room (the guest is
  // not reading, or not yet up). The caller gives a partial checksum or a
  // large segment only to a guest that takes it.
  bool Deliver(std::span<const uint8_t> frame, std::span<const uint8_t> offload = {});

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
  uint64_t features_ = 0;
  uint64_t sent_ = 0, received_ = 0, dropped_ = 0, malformed_ = 0;
};

}  // namespace tg::vhost_net
