#include "virtio/blk.h"

#include <cstring>

namespace tg::virtio {

namespace {

// Copies `out.size()` bytes from the start of the buffers; false if short.
bool CopyOut(const std::vector<Buffer>& bufs, std::span<uint8_t> out) {
  size_t done = 0;
  for (const auto& b : bufs) {
    if (done == out.size()) break;
    size_t n = std::min<size_t>(b.len, out.size() - done);
    std::memcpy(out.data() + done, b.data, n);
    done += n;
  }
  return done == out.size();
}

}  // namespace

Result<BlkRequest> ParseBlkRequest(const Chain& chain) {
  if (chain.readable_bytes < 16) {
    return InvalidArgument("virtio-blk request with {} readable bytes: no header",
                           chain.readable_bytes);
  }
  if (chain.writable_bytes < 1) return InvalidArgument("virtio-blk request without a status byte");
  uint8_t header[16];
  std::vector<Buffer> readable, writable;
  for (const auto& b : chain.buffers) (b.writable ? writable : readable).push_back(b);
  CopyOut(readable, header);
  BlkRequest r;
  std::memcpy(&r.type, header, 4);
  std::memcpy(&r.sector, header + 8, 8);

  // The header may share a buffer with data: skip exactly 16 bytes.
  size_t skip = 16;
  for (const auto& b : readable) {
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    r.data.push_back(
        Buffer{b.data + skip, static_cast<uint32_t>(b.len - skip), false, b.gpa + skip});
    skip = 0;
  }
  // The status byte is the last byte of the last writable buffer; an empty
  // one has none (its "last byte" would lie before it, outside the chain).
  Buffer last = writable.back();
  if (last.len == 0) return InvalidArgument("virtio-blk request ends with an empty descriptor");
  r.status = last.data + last.len - 1;
  for (size_t i = 0; i + 1 < writable.size(); ++i) r.data.push_back(writable[i]);
  if (last.len > 1) r.data.push_back(Buffer{last.data, last.len - 1, true, last.gpa});
  for (const auto& b : r.data) r.data_bytes += b.len;

  // Data direction must match the request type.
  const bool wants_writable = r.type == kBlkIn || r.type == kBlkGetId;
  for (const auto& b : r.data) {
    if (b.writable != wants_writable && r.type != kBlkFlush) {
      return InvalidArgument("virtio-blk request type {}: data buffer in the wrong direction",
                             r.type);
    }
  }
  return r;
}

Result<std::vector<BlkSegment>> ParseBlkSegments(const BlkRequest& r, uint32_t max_segments) {
  if (r.data_bytes == 0 || r.data_bytes % 16 != 0) {
    return InvalidArgument("discard/write-zeroes payload of {} bytes", r.data_bytes);
  }
  if (r.data_bytes / 16 > max_segments) {
    return InvalidArgument("{} segments, at most {} allowed", r.data_bytes / 16, max_segments);
  }
  std::vector<uint8_t> raw(r.data_bytes);
  GatherFrom(r.data, raw);
  std::vector<BlkSegment> out(r.data_bytes / 16);
  for (size_t i = 0; i < out.size(); ++i) std::memcpy(&out[i], raw.data() + 16 * i, 16);
  return out;
}

void GatherFrom(const std::vector<Buffer>& bufs, std::span<uint8_t> out) {
  CopyOut(bufs, out);
}

void ScatterTo(const std::vector<Buffer>& bufs, std::span<const uint8_t> in) {
  size_t done = 0;
  for (const auto& b : bufs) {
    if (done == in.size()) break;
    size_t n = std::min<size_t>(b.len, in.size() - done);
    std::memcpy(b.data, in.data() + done, n);
    done += n;
  }
}

std::vector<uint8_t> EncodeBlkConfig(const BlkConfig& c) {
  std::vector<uint8_t> out(kBlkConfigBytes, 0);
  auto put = [&](size_t at, auto v) { std::memcpy(out.data() + at, &v, sizeof v); };
  put(0, c.capacity_sectors);
  put(8, c.size_max);
  put(12, c.seg_max);
  // 16: geometry (unused)
  put(20, c.blk_size);
  out[24] = c.physical_block_exp;  // 25: alignment offset (0)
  put(26, c.min_io_size);
  put(28, c.opt_io_size);
  // 32: writeback, 33: unused
  put(34, c.num_queues);
  put(36, c.max_discard_sectors);
  put(40, c.max_discard_seg);
  put(44, c.discard_sector_alignment);
  put(48, c.max_write_zeroes_sectors);
  put(52, c.max_write_zeroes_seg);
  out[56] = c.write_zeroes_may_unmap ? 1 : 0;
  return out;
}

}  // namespace tg::virtio
