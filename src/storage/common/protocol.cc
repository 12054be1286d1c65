#include "storage/common/protocol.h"

#include <cstring>

#include "storage/common/crc32c.h"

namespace tg::storage {

namespace {

template <typename T>
void Put(uint8_t* at, T v) {
  std::memcpy(at, &v, sizeof v);  // little-endian hosts only (x86-64, arm64)
}
template <typename T>
T Get(const uint8_t* at) {
  T v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

constexpr size_t kCrcOffset = kHeaderSize - 4;

bool KnownOp(uint8_t op) {
  return op >= 1 && op <= kLastOp;
}

}  // namespace

std::array<uint8_t, kHeaderSize> EncodeHeader(const Header& h) {
  std::array<uint8_t, kHeaderSize> b{};
  Put<uint32_t>(&b[0], kMagic);
  b[4] = kVersion;
  b[5] = static_cast<uint8_t>(static_cast<uint8_t>(h.op) | (h.reply ? kReplyBit : 0));
  Put<uint16_t>(&b[6], static_cast<uint16_t>(h.status));
  Put<uint64_t>(&b[8], h.request_id);
  Put<uint64_t>(&b[16], h.chunk_id);
  Put<uint64_t>(&b[24], h.epoch);
  Put<uint32_t>(&b[32], h.offset);
  Put<uint32_t>(&b[36], h.length);
  Put<uint32_t>(&b[40], h.chunk_version);
  Put<uint32_t>(&b[44], 0);  // flags: none defined yet
  Put<uint32_t>(&b[48], h.payload_crc);
  Put<uint32_t>(&b[kCrcOffset], Crc32c(std::span(b.data(), kCrcOffset)));
  return b;
}

Result<Header> ParseHeader(std::span<const uint8_t, kHeaderSize> b) {
  if (Get<uint32_t>(&b[0]) != kMagic) {
    return InvalidArgument("chunk protocol: bad magic {:#x}", Get<uint32_t>(&b[0]));
  }
  if (b[4] != kVersion) return InvalidArgument("chunk protocol: version {} unsupported", b[4]);
  const uint32_t crc = Get<uint32_t>(&b[kCrcOffset]);
  if (crc != Crc32c(b.first(kCrcOffset))) {
    return InvalidArgument("chunk protocol: header checksum mismatch");
  }
  Header h;
  h.reply = (b[5] & kReplyBit) != 0;
  h.op = static_cast<Op>(b[5] & ~kReplyBit);
  h.status = static_cast<WireStatus>(Get<uint16_t>(&b[6]));
  h.request_id = Get<uint64_t>(&b[8]);
  h.chunk_id = Get<uint64_t>(&b[16]);
  h.epoch = Get<uint64_t>(&b[24]);
  h.offset = Get<uint32_t>(&b[32]);
  h.length = Get<uint32_t>(&b[36]);
  h.chunk_version = Get<uint32_t>(&b[40]);
  if (Get<uint32_t>(&b[44]) != 0) return InvalidArgument("chunk protocol: unknown flags");
  h.payload_crc = Get<uint32_t>(&b[48]);
  // Only the length frames the stream; everything else is checked per request.
  const bool carries_payload = h.reply ? (h.op == Op::kRead || h.op == Op::kBlockCrcs)
                                       : (h.op == Op::kWrite || h.op == Op::kFill);
  if (carries_payload && h.length > kMaxPayload) {
    return InvalidArgument("chunk protocol: payload of {} bytes exceeds {}", h.length, kMaxPayload);
  }
  return h;
}

Status CheckRequest(const Header& h) {
  if (h.reply) return InvalidArgument("a reply where a request was expected");
  if (!KnownOp(static_cast<uint8_t>(h.op))) {
    return InvalidArgument("unknown opcode {}", static_cast<int>(h.op));
  }
  if (h.status != WireStatus::kOk) return InvalidArgument("a request carries a status");
  switch (h.op) {
    case Op::kWrite:
    case Op::kFill:
    case Op::kRead:
      if (h.length == 0 || h.length > kMaxPayload) {
        return InvalidArgument("{} of {} bytes (1 to {} allowed)", OpName(h.op), h.length,
                               kMaxPayload);
      }
      if (h.offset > kChunkSize || h.length > kChunkSize - h.offset) {
        return InvalidArgument("{} [{}, +{}) is outside the chunk", OpName(h.op), h.offset,
                               h.length);
      }
      return Status::Ok();
    default:
      if (h.offset != 0 || h.length != 0) {
        return InvalidArgument("{} takes no offset or length", OpName(h.op));
      }
      return Status::Ok();
  }
}

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kWrite:
      return "write";
    case Op::kRead:
      return "read";
    case Op::kFence:
      return "fence";
    case Op::kBlockCrcs:
      return "block-crcs";
    case Op::kDelete:
      return "delete";
    case Op::kPing:
      return "ping";
    case Op::kFill:
      return "fill";
    case Op::kSetVersion:
      return "set-version";
  }
  return "unknown";
}

std::string_view StatusName(WireStatus s) {
  switch (s) {
    case WireStatus::kOk:
      return "ok";
    case WireStatus::kBadRequest:
      return "bad request";
    case WireStatus::kStaleEpoch:
      return "stale epoch";
    case WireStatus::kIoError:
      return "I/O error";
    case WireStatus::kCorrupt:
      return "corrupt";
    case WireStatus::kNoSpace:
      return "no space";
    case WireStatus::kStaleVersion:
      return "stale replica-set version";
  }
  return "unknown status";
}

Status ToStatus(WireStatus s, std::string_view context) {
  switch (s) {
    case WireStatus::kOk:
      return Status::Ok();
    case WireStatus::kBadRequest:
      return InvalidArgument("{}: bad request", context);
    case WireStatus::kStaleEpoch:
      return Status(ErrorCode::kFailedPrecondition,
                    fmt::format("{}: stale epoch (fenced)", context));
    case WireStatus::kCorrupt:
      return Status(ErrorCode::kDataLoss, fmt::format("{}: checksum mismatch", context));
    case WireStatus::kNoSpace:
      return Status(ErrorCode::kResourceExhausted, fmt::format("{}: no space", context));
    case WireStatus::kStaleVersion:
      return Status(ErrorCode::kAborted, fmt::format("{}: stale replica-set version", context));
    default:
      return Status(ErrorCode::kIoError, fmt::format("{}: {}", context, StatusName(s)));
  }
}

}  // namespace tg::storage
