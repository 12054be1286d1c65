// Malformed vhost-user messages: each is a clear error, never a crash.
#include "vhost/message.h"

#include <gtest/gtest.h>

#include <cstring>

namespace tg::vhost {
namespace {

std::vector<uint8_t> HeaderBytes(uint32_t request, uint32_t flags, uint32_t size) {
  std::vector<uint8_t> b(12);
  std::memcpy(b.data(), &request, 4);
  std::memcpy(b.data() + 4, &flags, 4);
  std::memcpy(b.data() + 8, &size, 4);
  return b;
}

TEST(VhostMessage, HeaderChecksVersionAndSize) {
  auto ok = ParseHeader(HeaderBytes(kSetVringNum, kFlagVersion, 8));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->request, kSetVringNum);
  EXPECT_FALSE(ParseHeader(HeaderBytes(kSetVringNum, 2, 8)).ok());                    // version 2
  EXPECT_FALSE(ParseHeader(HeaderBytes(kSetMemTable, kFlagVersion, 1u << 20)).ok());  // too large
  auto truncated = HeaderBytes(kGetFeatures, kFlagVersion, 0);
  truncated.pop_back();
  EXPECT_FALSE(ParseHeader(truncated).ok());
}

TEST(VhostMessage, PayloadsMustHaveTheirExactSize) {
  EXPECT_TRUE(ParseU64(Pack(uint64_t{5})).ok());
  EXPECT_FALSE(ParseU64(Pack(uint32_t{5})).ok());
  EXPECT_FALSE(ParseVringState(Pack(uint32_t{0})).ok());
  auto addr = ParseVringAddr(Pack(uint32_t{1}, uint32_t{0}, uint64_t{0x1000}, uint64_t{0x2000},
                                  uint64_t{0x3000}, uint64_t{0}));
  ASSERT_TRUE(addr.ok());
  EXPECT_EQ(addr->avail, 0x3000u);
  EXPECT_FALSE(ParseVringAddr(Pack(uint32_t{1}, uint32_t{0}, uint64_t{0x1000})).ok());
  EXPECT_FALSE(ParseInflight(Pack(uint64_t{1})).ok());
}

TEST(VhostMessage, MemTableNeedsOneFdPerRegionAndSaneCounts) {
  auto one =
      Pack(uint32_t{1}, uint32_t{0}, uint64_t{0}, uint64_t{4096}, uint64_t{0x7000}, uint64_t{0});
  EXPECT_TRUE(ParseMemTable(one, 1).ok());
  EXPECT_FALSE(ParseMemTable(one, 0).ok());  // region without its fd
  EXPECT_FALSE(ParseMemTable(one, 2).ok());  // an extra fd
  auto claims_two = one;
  claims_two[0] = 2;  // says 2 regions, carries 1
  EXPECT_FALSE(ParseMemTable(claims_two, 2).ok());
  auto claims_many = one;
  claims_many[0] = 200;
  EXPECT_FALSE(ParseMemTable(claims_many, 1).ok());
  EXPECT_FALSE(ParseMemTable(Pack(uint32_t{0}, uint32_t{0}), 0).ok());
}

TEST(VhostMessage, ConfigAccessSizeMustMatch) {
  auto c = Pack(uint32_t{0}, uint32_t{4}, uint32_t{0}, uint32_t{0xdeadbeef});
  auto parsed = ParseConfig(c);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->data.size(), 4u);
  auto lying = Pack(uint32_t{0}, uint32_t{64}, uint32_t{0}, uint32_t{0});  // says 64, has 4
  EXPECT_FALSE(ParseConfig(lying).ok());
  EXPECT_FALSE(ParseConfig(Pack(uint32_t{0})).ok());
}

}  // namespace
}  // namespace tg::vhost
