#include "vhost/message.h"

#include <cstring>

namespace tg::vhost {

namespace {

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

Status ExpectSize(std::string_view what, std::span<const uint8_t> p, size_t want) {
  if (p.size() != want)
    return InvalidArgument("{}: payload of {} bytes, expected {}", what, p.size(), want);
  return Status::Ok();
}

}  // namespace

Result<Header> ParseHeader(std::span<const uint8_t> b) {
  if (b.size() != kHeaderSize) return InvalidArgument("vhost-user header of {} bytes", b.size());
  Header h{.request = Load<uint32_t>(b.data()),
           .flags = Load<uint32_t>(b.data() + 4),
           .size = Load<uint32_t>(b.data() + 8)};
  if ((h.flags & 0x3) != kFlagVersion)
    return InvalidArgument("vhost-user version {}", h.flags & 0x3);
  if (h.size > kMaxPayload) {
    return InvalidArgument("vhost-user request {}: payload of {} bytes exceeds {}", h.request,
                           h.size, kMaxPayload);
  }
  return h;
}

Result<uint64_t> ParseU64(std::span<const uint8_t> p) {
  TG_RETURN_IF_ERROR(ExpectSize("u64", p, 8));
  return Load<uint64_t>(p.data());
}

Result<LogArea> ParseLogArea(std::span<const uint8_t> p) {
  TG_RETURN_IF_ERROR(ExpectSize("log area", p, 16));
  return LogArea{Load<uint64_t>(p.data()), Load<uint64_t>(p.data() + 8)};
}

Result<VringState> ParseVringState(std::span<const uint8_t> p) {
  TG_RETURN_IF_ERROR(ExpectSize("vring state", p, 8));
  return VringState{Load<uint32_t>(p.data()), Load<uint32_t>(p.data() + 4)};
}

Result<VringAddr> ParseVringAddr(std::span<const uint8_t> p) {
  TG_RETURN_IF_ERROR(ExpectSize("vring address", p, 40));
  return VringAddr{.index = Load<uint32_t>(p.data()),
                   .flags = Load<uint32_t>(p.data() + 4),
                   .desc = Load<uint64_t>(p.data() + 8),
                   .used = Load<uint64_t>(p.data() + 16),
                   .avail = Load<uint64_t>(p.data() + 24),
                   .log = Load<uint64_t>(p.data() + 32)};
}

Result<std::vector<virtio::MemoryRegion>> ParseMemTable(std::span<const uint8_t> p, size_t fds) {
  if (p.size() < 8) return InvalidArgument("memory table of {} bytes", p.size());
  const uint32_t n = Load<uint32_t>(p.data());
  if (n == 0 || n > kMaxFds) return InvalidArgument("memory table with {} regions", n);
  TG_RETURN_IF_ERROR(ExpectSize("memory table", p, 8 + 32ull * n));
  if (fds != n) return InvalidArgument("memory table with {} regions came with {} fds", n, fds);
  std::vector<virtio::MemoryRegion> out;
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t* r = p.data() + 8 + 32 * i;
    out.push_back({.guest_phys_addr = Load<uint64_t>(r),
                   .size = Load<uint64_t>(r + 8),
                   .user_addr = Load<uint64_t>(r + 16),
                   .mmap_offset = Load<uint64_t>(r + 24)});
  }
  return out;
}

Result<ConfigAccess> ParseConfig(std::span<const uint8_t> p) {
  if (p.size() < 12) return InvalidArgument("config access of {} bytes", p.size());
  ConfigAccess c{.offset = Load<uint32_t>(p.data()),
                 .size = Load<uint32_t>(p.data() + 4),
                 .flags = Load<uint32_t>(p.data() + 8)};
  if (c.size > 256 || p.size() != 12 + c.size) {
    return InvalidArgument("config access of {} bytes in a {}-byte message", c.size, p.size());
  }
  c.data.assign(p.begin() + 12, p.end());
  return c;
}

Result<InflightInfo> ParseInflight(std::span<const uint8_t> p) {
  TG_RETURN_IF_ERROR(ExpectSize("inflight description", p, 24));
  return InflightInfo{.mmap_size = Load<uint64_t>(p.data()),
                      .mmap_offset = Load<uint64_t>(p.data() + 8),
                      .num_queues = Load<uint16_t>(p.data() + 16),
                      .queue_size = Load<uint16_t>(p.data() + 18)};
}

std::vector<uint8_t> EncodeReply(uint32_t request, std::span<const uint8_t> payload) {
  auto out = Pack(request, kFlagVersion | kFlagReply, static_cast<uint32_t>(payload.size()));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<uint8_t> EncodeU64(uint64_t v) {
  return Pack(v);
}

std::vector<uint8_t> EncodeVringState(VringState s) {
  return Pack(s.index, s.num);
}

std::vector<uint8_t> EncodeConfig(const ConfigAccess& c) {
  auto out = Pack(c.offset, static_cast<uint32_t>(c.data.size()), c.flags);
  out.insert(out.end(), c.data.begin(), c.data.end());
  return out;
}

std::vector<uint8_t> EncodeInflight(const InflightInfo& i) {
  // Padded to 24 bytes.
  return Pack(i.mmap_size, i.mmap_offset, i.num_queues, i.queue_size, uint32_t{0});
}

}  // namespace tg::vhost
