// The NBD wire protocol (fixed newstyle handshake, simple replies), as the
// public NBD protocol document defines it. Pure functions: every field that
// arrives from a client is checked here before the server acts on it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace tg::nbd {

inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943;     // "NBDMAGIC"
inline constexpr uint64_t kOptionMagic = 0x49484156454F5054;  // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x0003e889045565a9;
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;

// Handshake flags (server) and client flags.
inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kClientFixedNewstyle = 1 << 0;
inline constexpr uint32_t kClientNoZeroes = 1 << 1;

enum Option : uint32_t {
  kOptExportName = 1,
  kOptAbort = 2,
  kOptList = 3,
  kOptStartTls = 5,
  kOptInfo = 6,
  kOptGo = 7,
  kOptStructuredReply = 8,
};

enum OptionReply : uint32_t {
  kRepAck = 1,
  kRepServer = 2,
  kRepInfo = 3,
  kRepErrUnsup = 0x80000001,
  kRepErrPolicy = 0x80000002,
  kRepErrInvalid = 0x80000003,
  kRepErrUnknown = 0x80000006,
  kRepErrTooBig = 0x80000009,
};

enum Info : uint16_t { kInfoExport = 0, kInfoName = 1, kInfoDescription = 2, kInfoBlockSize = 3 };

// Transmission flags.
inline constexpr uint16_t kTxHasFlags = 1 << 0;
inline constexpr uint16_t kTxReadOnly = 1 << 1;
inline constexpr uint16_t kTxSendFlush = 1 << 2;
inline constexpr uint16_t kTxSendFua = 1 << 3;
inline constexpr uint16_t kTxSendTrim = 1 << 5;
inline constexpr uint16_t kTxSendWriteZeroes = 1 << 6;
inline constexpr uint16_t kTxCanMultiConn = 1 << 8;

enum Command : uint16_t {
  kCmdRead = 0,
  kCmdWrite = 1,
  kCmdDisconnect = 2,
  kCmdFlush = 3,
  kCmdTrim = 4,
  kCmdCache = 5,
  kCmdWriteZeroes = 6,
};

inline constexpr uint16_t kCmdFlagFua = 1 << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1 << 1;

// Error values in replies (Linux errno numbers, as the protocol fixes them).
enum Error : uint32_t {
  kErrPerm = 1,
  kErrIo = 5,
  kErrNoMem = 12,
  kErrInval = 22,
  kErrNoSpc = 28,
  kErrOverflow = 75,
  kErrNotSup = 95,
  kErrShutdown = 108,
};

// The largest request payload we accept; a client that sends a larger write
// is broken or hostile and is disconnected.
inline constexpr uint32_t kMaxPayload = 32 << 20;

inline constexpr size_t kOptionHeaderSize = 16;
inline constexpr size_t kRequestSize = 28;
inline constexpr size_t kSimpleReplySize = 16;
inline constexpr uint32_t kMaxOptionLength = 64 << 10;

struct OptionHeader {
  uint32_t option = 0;
  uint32_t length = 0;
};
Result<OptionHeader> ParseOptionHeader(std::span<const uint8_t> bytes);

// NBD_OPT_INFO / NBD_OPT_GO payload.
struct GoRequest {
  std::string name;
  std::vector<uint16_t> infos;
};
Result<GoRequest> ParseGoRequest(std::span<const uint8_t> data);

struct Request {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t handle = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};
Result<Request> ParseRequest(std::span<const uint8_t> bytes);

// The error to reply for a request that is well-formed but not acceptable
// against an export of `size` bytes (0: acceptable).
uint32_t CheckRequest(const Request& r, uint64_t size, bool read_only);

// Serialization.
void PutU16(std::vector<uint8_t>& out, uint16_t v);
void PutU32(std::vector<uint8_t>& out, uint32_t v);
void PutU64(std::vector<uint8_t>& out, uint64_t v);
uint16_t GetU16(const uint8_t* p);
uint32_t GetU32(const uint8_t* p);
uint64_t GetU64(const uint8_t* p);

std::vector<uint8_t> OptionReplyBytes(uint32_t option, uint32_t type,
                                      std::span<const uint8_t> data = {});
std::vector<uint8_t> SimpleReplyBytes(uint32_t error, uint64_t handle);

}  // namespace tg::nbd
