#include "nbd/protocol.h"

#include <gtest/gtest.h>

namespace tg::nbd {
namespace {

std::vector<uint8_t> RequestBytes(uint32_t magic, uint16_t type, uint64_t offset, uint32_t length) {
  std::vector<uint8_t> b;
  PutU32(b, magic);
  PutU16(b, 0);
  PutU16(b, type);
  PutU64(b, 0x1122334455667788);
  PutU64(b, offset);
  PutU32(b, length);
  return b;
}

TEST(NbdProtocol, ParsesAWellFormedRequest) {
  auto r = ParseRequest(RequestBytes(kRequestMagic, kCmdWrite, 4096, 512));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, kCmdWrite);
  EXPECT_EQ(r->handle, 0x1122334455667788u);
  EXPECT_EQ(r->offset, 4096u);
  EXPECT_EQ(r->length, 512u);
}

TEST(NbdProtocol, RejectsBadMagicAndTruncation) {
  EXPECT_FALSE(ParseRequest(RequestBytes(0xdeadbeef, kCmdRead, 0, 1)).ok());
  auto b = RequestBytes(kRequestMagic, kCmdRead, 0, 1);
  b.pop_back();
  EXPECT_FALSE(ParseRequest(b).ok());
  std::vector<uint8_t> h;
  PutU64(h, kOptionMagic);
  PutU32(h, kOptGo);
  PutU32(h, kMaxOptionLength + 1);  // an option too long to buffer
  EXPECT_FALSE(ParseOptionHeader(h).ok());
  h[0] ^= 1;
  EXPECT_FALSE(ParseOptionHeader(h).ok());
}

TEST(NbdProtocol, ChecksRangesAndPermissions) {
  const uint64_t size = 1 << 20;
  Request r{.type = kCmdRead, .offset = size - 512, .length = 512};
  EXPECT_EQ(CheckRequest(r, size, false), 0u);
  r.length = 513;
  EXPECT_EQ(CheckRequest(r, size, false), kErrInval);
  r = {.type = kCmdWrite, .offset = UINT64_MAX - 10, .length = 100};  // would overflow
  EXPECT_EQ(CheckRequest(r, size, false), kErrInval);
  r = {.type = kCmdWrite, .offset = 0, .length = 512};
  EXPECT_EQ(CheckRequest(r, size, true), kErrPerm);
  r = {.type = kCmdRead, .offset = 0, .length = kMaxPayload + 1};
  EXPECT_EQ(CheckRequest(r, uint64_t{1} << 40, false), kErrOverflow);
  r = {.type = 77};
  EXPECT_EQ(CheckRequest(r, size, false), kErrInval);
}

TEST(NbdProtocol, GoRequestLengthsAreChecked) {
  std::vector<uint8_t> d;
  PutU32(d, 5);
  for (char c : std::string("disk0")) d.push_back(static_cast<uint8_t>(c));
  PutU16(d, 2);
  PutU16(d, kInfoBlockSize);
  PutU16(d, kInfoName);
  auto g = ParseGoRequest(d);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->name, "disk0");
  EXPECT_EQ(g->infos, (std::vector<uint16_t>{kInfoBlockSize, kInfoName}));

  auto overrun = d;
  overrun[3] = 200;  // name length beyond the data
  EXPECT_FALSE(ParseGoRequest(overrun).ok());
  auto short_infos = d;
  short_infos.pop_back();  // the info count promises more than there is
  EXPECT_FALSE(ParseGoRequest(short_infos).ok());
  EXPECT_FALSE(ParseGoRequest(std::vector<uint8_t>{0, 0}).ok());
}

}  // namespace
}  // namespace tg::nbd
