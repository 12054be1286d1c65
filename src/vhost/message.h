// The vhost-user wire protocol (QEMU's docs/interop/vhost-user.rst): message
// header, request codes, and the payloads a backend receives, each parsed and
// checked here before the backend acts on it.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "base/status.h"
#include "virtio/guest_memory.h"

namespace tg::vhost {

enum Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSendRarp = 19,
  kSetBackendReqFd = 21,
  kGetConfig = 24,
  kSetConfig = 25,
  kGetInflightFd = 31,
  kSetInflightFd = 32,
  kResetDevice = 34,
  kGetMaxMemSlots = 36,
  kAddMemReg = 37,
  kRemMemReg = 38,
};

// Protocol feature bits.
enum ProtocolFeature : uint64_t {
  kProtocolMq = 1ull << 0,
  kProtocolLogShmfd = 1ull << 1,
  kProtocolRarp = 1ull << 2,
  kProtocolReplyAck = 1ull << 3,
  kProtocolConfig = 1ull << 9,
  kProtocolInflightShmfd = 1ull << 12,
  kProtocolResetDevice = 1ull << 13,
};
inline constexpr uint64_t kFeatureProtocolFeatures = 1ull << 30;
// VHOST_F_LOG_ALL: the backend logs its writes to guest memory (migration).
inline constexpr uint64_t kFeatureLogAll = 1ull << 26;
// In a vring address's flags: log the used ring's writes at its `log` address.
inline constexpr uint32_t kVringFlagLog = 0x1;

inline constexpr uint32_t kHeaderSize = 12;
inline constexpr uint32_t kFlagVersion = 0x1;
inline constexpr uint32_t kFlagReply = 0x4;
inline constexpr uint32_t kFlagNeedReply = 0x8;
inline constexpr uint32_t kMaxPayload = 4096;
inline constexpr size_t kMaxFds = 8;
inline constexpr uint64_t kVringIndexMask = 0xff;
inline constexpr uint64_t kVringNoFd = 0x100;

struct Header {
  uint32_t request = 0;
  uint32_t flags = 0;
  uint32_t size = 0;
};
// Checks the version and the payload size bound.
Result<Header> ParseHeader(std::span<const uint8_t> bytes);

struct VringState {
  uint32_t index = 0;
  uint32_t num = 0;
};
struct VringAddr {
  uint32_t index = 0;
  uint32_t flags = 0;
  uint64_t desc = 0;  // frontend-virtual addresses
  uint64_t used = 0;
  uint64_t avail = 0;
  uint64_t log = 0;
};
struct ConfigAccess {
  uint32_t offset = 0;
  uint32_t size = 0;
  uint32_t flags = 0;
  std::vector<uint8_t> data;
};
struct InflightInfo {
  uint64_t mmap_size = 0;
  uint64_t mmap_offset = 0;
  uint16_t num_queues = 0;
  uint16_t queue_size = 0;
};

// SET_LOG_BASE's payload (with LOG_SHMFD): where the bitmap is in its fd.
struct LogArea {
  uint64_t mmap_size = 0;
  uint64_t mmap_offset = 0;
};

Result<uint64_t> ParseU64(std::span<const uint8_t> payload);
Result<LogArea> ParseLogArea(std::span<const uint8_t> payload);
Result<VringState> ParseVringState(std::span<const uint8_t> payload);
Result<VringAddr> ParseVringAddr(std::span<const uint8_t> payload);
// SET_MEM_TABLE: the regions; exactly one fd per region must have come with it.
Result<std::vector<virtio::MemoryRegion>> ParseMemTable(std::span<const uint8_t> payload,
                                                        size_t fds);
Result<ConfigAccess> ParseConfig(std::span<const uint8_t> payload);
Result<InflightInfo> ParseInflight(std::span<const uint8_t> payload);

// Packs values in host byte order (vhost-user is native-endian), e.g.
// Pack(uint32_t{index}, uint32_t{num}) is a vring state.
template <typename... T>
std::vector<uint8_t> Pack(T... values) {
  std::vector<uint8_t> out;
  (
      [&] {
        const size_t at = out.size();
        out.resize(at + sizeof values);
        std::memcpy(out.data() + at, &values, sizeof values);
      }(),
      ...);
  return out;
}

std::vector<uint8_t> EncodeReply(uint32_t request, std::span<const uint8_t> payload);
std::vector<uint8_t> EncodeU64(uint64_t v);
std::vector<uint8_t> EncodeVringState(VringState s);
std::vector<uint8_t> EncodeConfig(const ConfigAccess& c);
std::vector<uint8_t> EncodeInflight(const InflightInfo& i);

}  // namespace tg::vhost
