// Receive offload for TAP ports (the idea of the kernel's GRO): the
// in-order TCP/IPv4 segments of one flow that a burst from the tunnel
// brings are joined into one large segment, which the receiving stack
// takes whole (one write instead of one per segment) and cuts again only
// if it must. Segments join only when nothing but the sequence number, the
// IPv4 identifier and the checksums differs (same ACK, window and options),
// all but the last carry the same payload size, no flag beyond ACK and a
// closing PSH is set, and each one's checksum is right.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "network/datapath/packet.h"

namespace tg::network {

class TcpCoalescer {
 public:
  TcpCoalescer();
  // Takes `frame` (complete checksums) if it starts or continues the
  // segment being built; false: flush with Take() first (or send it alone).
  bool Append(std::span<const uint8_t> frame);
  bool empty() const { return segments_ == 0; }
  // The joined frame and what is left to the receiving stack (nothing for
  // a lone segment); empties the coalescer.
  std::span<uint8_t> Take(Offload* offload);

 private:
  std::vector<uint8_t> frame_;  // the largest IPv4 frame; the first size_ bytes used
  size_t size_ = 0;
  size_t segments_ = 0;
  size_t l4_ = 0, headers_ = 0;
  uint16_t gso_size_ = 0;
  uint32_t next_seq_ = 0;
  bool closed_ = false;  // a short segment or PSH ended it
};

}  // namespace tg::network
