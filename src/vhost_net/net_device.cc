#include "vhost_net/net_device.h"

#include <cstring>

namespace tg::vhost_net {

namespace {

// A flow's hash: the IPv4 addresses and (TCP/UDP) ports, so that a
// connection's frames keep their order on one queue.
uint32_t FlowHash(std::span<const uint8_t> frame) {
  uint32_t h = 2166136261u;
  auto mix = [&](size_t from, size_t n) {
    for (size_t i = from; i < from + n && i < frame.size(); ++i) h = (h ^ frame[i]) * 16777619u;
  };
  if (frame.size() >= 34 && frame[12] == 0x08 && frame[13] == 0x00) {
    mix(26, 8);  // addresses
    const size_t l4 = 14 + size_t{frame[14] & 0x0fu} * 4;
    if (frame[23] == 6 || frame[23] == 17) mix(l4, 4);  // ports
  } else {
    mix(0, 12);
  }
  return h;
}

}  // namespace

NetDevice::NetDevice(Executor ex, uint16_t queue_pairs, OnFrame on_frame)
    : ex_(ex), on_frame_(std::move(on_frame)), rx_(queue_pairs == 0 ? 1 : queue_pairs) {}

Task<uint32_t> NetDevice::Process(uint16_t queue, virtio::Chain chain) {
  if (queue % 2 == 0) {
    // A receive buffer: kept until a frame (or the queue's stop) fills it.
    auto posted = std::make_shared<Posted>(ex_, std::move(chain));
    rx_[queue / 2].push_back(posted);
    co_await posted->done.Wait();
    co_return posted->written;
  }
  uint32_t written = 0;
  ProcessNow(queue, chain, &written);
  co_return written;
}

bool NetDevice::ProcessNow(uint16_t queue, const virtio::Chain& chain, uint32_t* written) {
  if (queue % 2 == 0) return false;  // receive buffers wait in Process
  *written = 0;
  // A frame to send: the header, then the frame, over the readable buffers.
  if (chain.readable_bytes < kNetHeader + 14 || chain.readable_bytes > kNetHeader + kMaxFrame) {
    ++malformed_;
    return true;
  }
  tx_buffer_.resize(chain.readable_bytes);
  size_t at = 0;
  for (const auto& b : chain.buffers) {
    if (b.writable) continue;
    std::memcpy(tx_buffer_.data() + at, b.data, b.len);
    at += b.len;
  }
  ++sent_;
  on_frame_(std::span<uint8_t>(tx_buffer_).subspan(kNetHeader),
            std::span<const uint8_t, kOffloadHeader>(tx_buffer_.data(), kOffloadHeader));
  return true;
}

void NetDevice::Stop(uint16_t queue) {
  if (queue % 2 != 0 || queue / 2 >= rx_.size()) return;
  // Given back empty (a stopped queue delivers nothing more).
  for (auto& posted : rx_[queue / 2]) posted->done.Set();
  rx_[queue / 2].clear();
}

size_t NetDevice::ChainsFor(const std::deque<std::shared_ptr<Posted>>& queue, size_t bytes) const {
  size_t room = 0;
  for (size_t n = 0; n < queue.size(); ++n) {
    room += queue[n]->chain.writable_bytes;
    if (room >= bytes) return n + 1;
    if (!mergeable_) return 0;  // one buffer per frame
  }
  return 0;
}

bool NetDevice::Deliver(std::span<const uint8_t> frame, std::span<const uint8_t> offload) {
  const size_t bytes = kNetHeader + frame.size();
  const size_t first = FlowHash(frame) % rx_.size();
  for (size_t k = 0; k < rx_.size(); ++k) {
    auto& queue = rx_[(first + k) % rx_.size()];
    const size_t n = ChainsFor(queue, bytes);
    if (n == 0) continue;
    uint8_t header[kNetHeader] = {};
    if (!offload.empty())
      std::memcpy(header, offload.data(), std::min(offload.size(), kOffloadHeader));
    header[10] = static_cast<uint8_t>(n);  // num_buffers, little-endian
    header[11] = static_cast<uint8_t>(n >> 8);
    // Header then frame, poured over the chains' writable buffers in order.
    size_t from = 0;
    for (size_t c = 0; c < n && from < bytes; ++c) {
      Posted& p = *queue[c];
      for (const auto& b : p.chain.buffers) {
        if (!b.writable) continue;
        uint8_t* to = b.data;
        size_t left = std::min<size_t>(b.len, bytes - from);
        p.written += static_cast<uint32_t>(left);
        if (from < kNetHeader) {
          const size_t h = std::min(left, kNetHeader - from);
          std::memcpy(to, header + from, h);
          to += h;
          from += h;
          left -= h;
        }
        if (left == 0) continue;  // a buffer smaller than the header
        std::memcpy(to, frame.data() + (from - kNetHeader), left);
        from += left;
        if (from == bytes) break;
      }
    }
    for (size_t c = 0; c < n; ++c) {
      queue.front()->done.Set();
      queue.pop_front();
    }
    ++received_;
    return true;
  }
  ++dropped_;
  return false;
}

}  // namespace tg::vhost_net
