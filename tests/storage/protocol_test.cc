// The chunk protocol's framing and request checks, byte by byte.
#include "storage/common/protocol.h"

#include <gtest/gtest.h>

#include "storage/common/crc32c.h"

namespace tg::storage {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c({reinterpret_cast<const uint8_t*>(s.data()), s.size()}), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);  // RFC 3720 B.4
}

Header SampleWrite() {
  Header h;
  h.op = Op::kWrite;
  h.request_id = 42;
  h.chunk_id = MakeChunkId(7, 3);
  h.epoch = 9;
  h.offset = 8192;
  h.length = 4096;
  h.payload_crc = 0xdeadbeef;
  return h;
}

TEST(ChunkProtocol, HeaderRoundTrips) {
  auto bytes = EncodeHeader(SampleWrite());
  auto h = ParseHeader(bytes);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->op, Op::kWrite);
  EXPECT_FALSE(h->reply);
  EXPECT_EQ(h->request_id, 42u);
  EXPECT_EQ(VolumeOf(h->chunk_id), 7u);
  EXPECT_EQ(IndexOf(h->chunk_id), 3u);
  EXPECT_EQ(h->epoch, 9u);
  EXPECT_EQ(h->offset, 8192u);
  EXPECT_EQ(h->length, 4096u);
  EXPECT_EQ(h->payload_crc, 0xdeadbeefu);
  EXPECT_TRUE(CheckRequest(*h).ok());
}

TEST(ChunkProtocol, UntrustworthyFramingIsRefused) {
  auto good = EncodeHeader(SampleWrite());
  auto bad_magic = good;
  bad_magic[0] ^= 1;
  EXPECT_EQ(ParseHeader(bad_magic).status().code(), ErrorCode::kInvalidArgument);
  auto bad_version = good;
  bad_version[4] = 2;
  EXPECT_EQ(ParseHeader(bad_version).status().code(), ErrorCode::kInvalidArgument);
  // Any flipped bit in the fields fails the header checksum.
  for (size_t i = 5; i < kHeaderSize; ++i) {  // flags included
    auto flipped = good;
    flipped[i] ^= 0x10;
    EXPECT_FALSE(ParseHeader(flipped).ok()) << "byte " << i;
  }
  Header huge = SampleWrite();
  huge.length = kMaxPayload + 1;
  auto status = ParseHeader(EncodeHeader(huge)).status();
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("exceeds"), std::string::npos);
}

TEST(ChunkProtocol, RequestsOutsideTheRulesAreRefused) {
  Header h = SampleWrite();
  h.offset = kChunkSize - 1024;  // runs past the end
  EXPECT_EQ(CheckRequest(h).code(), ErrorCode::kInvalidArgument);
  h = SampleWrite();
  h.length = 0;
  EXPECT_FALSE(CheckRequest(h).ok());
  h = SampleWrite();
  h.op = static_cast<Op>(99);
  EXPECT_NE(CheckRequest(h).message().find("unknown opcode"), std::string::npos);
  h = SampleWrite();
  h.op = Op::kFence;  // takes no range
  EXPECT_FALSE(CheckRequest(h).ok());
  h.offset = h.length = 0;
  EXPECT_TRUE(CheckRequest(h).ok());
  h.reply = true;
  EXPECT_FALSE(CheckRequest(h).ok());
  h = SampleWrite();
  h.status = WireStatus::kCorrupt;
  EXPECT_FALSE(CheckRequest(h).ok());
}

TEST(ChunkProtocol, WireStatusesMapToErrors) {
  EXPECT_TRUE(ToStatus(WireStatus::kOk, "x").ok());
  EXPECT_EQ(ToStatus(WireStatus::kStaleEpoch, "x").code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ToStatus(WireStatus::kCorrupt, "x").code(), ErrorCode::kDataLoss);
  EXPECT_EQ(ToStatus(static_cast<WireStatus>(77), "x").code(), ErrorCode::kIoError);
}

}  // namespace
}  // namespace tg::storage
