#include "nbd/protocol.h"

namespace tg::nbd {

void PutU16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
uint16_t GetU16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint64_t GetU64(const uint8_t* p) {
  return uint64_t{GetU32(p)} << 32 | GetU32(p + 4);
}

Result<OptionHeader> ParseOptionHeader(std::span<const uint8_t> b) {
  if (b.size() != kOptionHeaderSize) return InvalidArgument("option header: {} bytes", b.size());
  if (GetU64(b.data()) != kOptionMagic) return InvalidArgument("option header: bad magic");
  OptionHeader h{.option = GetU32(b.data() + 8), .length = GetU32(b.data() + 12)};
  if (h.length > kMaxOptionLength) {
    return InvalidArgument("option {}: length {} exceeds {}", h.option, h.length, kMaxOptionLength);
  }
  return h;
}

Result<GoRequest> ParseGoRequest(std::span<const uint8_t> d) {
  if (d.size() < 6) return InvalidArgument("NBD_OPT_GO: {} bytes is too short", d.size());
  const uint32_t name_len = GetU32(d.data());
  if (name_len > d.size() - 6)
    return InvalidArgument("NBD_OPT_GO: name length {} overruns", name_len);
  GoRequest g;
  g.name.assign(reinterpret_cast<const char*>(d.data() + 4), name_len);
  const uint8_t* p = d.data() + 4 + name_len;
  const uint16_t count = GetU16(p);
  if (size_t{count} * 2 != d.size() - 6 - name_len) {
    return InvalidArgument("NBD_OPT_GO: {} info requests do not fit {} bytes", count, d.size());
  }
  for (uint16_t i = 0; i < count; ++i) g.infos.push_back(GetU16(p + 2 + 2 * i));
  return g;
}

Result<Request> ParseRequest(std::span<const uint8_t> b) {
  if (b.size() != kRequestSize) return InvalidArgument("request: {} bytes", b.size());
  if (GetU32(b.data()) != kRequestMagic) {
    return InvalidArgument("request: bad magic {:#x}", GetU32(b.data()));
  }
  return Request{.flags = GetU16(b.data() + 4),
                 .type = GetU16(b.data() + 6),
                 .handle = GetU64(b.data() + 8),
                 .offset = GetU64(b.data() + 16),
                 .length = GetU32(b.data() + 24)};
}

uint32_t CheckRequest(const Request& r, uint64_t size, bool read_only) {
  switch (r.type) {
    case kCmdRead:
    case kCmdWrite:
    case kCmdTrim:
    case kCmdWriteZeroes:
    case kCmdCache:
      if (r.offset > size || r.length > size - r.offset) return kErrInval;
      if ((r.type == kCmdRead || r.type == kCmdWrite) && r.length > kMaxPayload)
        return kErrOverflow;
      if (read_only && r.type != kCmdRead && r.type != kCmdCache) return kErrPerm;
      return 0;
    case kCmdFlush:
    case kCmdDisconnect:
      return 0;
    default:
      return kErrInval;
  }
}

std::vector<uint8_t> OptionReplyBytes(uint32_t option, uint32_t type,
                                      std::span<const uint8_t> data) {
  std::vector<uint8_t> out;
  out.reserve(20 + data.size());
  PutU64(out, kOptionReplyMagic);
  PutU32(out, option);
  PutU32(out, type);
  PutU32(out, static_cast<uint32_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> SimpleReplyBytes(uint32_t error, uint64_t handle) {
  std::vector<uint8_t> out;
  out.reserve(kSimpleReplySize);
  PutU32(out, kSimpleReplyMagic);
  PutU32(out, error);
  PutU64(out, handle);
  return out;
}

}  // namespace tg::nbd
