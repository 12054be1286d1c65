#include <gtest/gtest.h>

#include "support/test_util.h"
#include "volume/volume.h"
#include "volume_test_util.h"

namespace tg::volume {
namespace {

using testing::Pattern;
using testing::RunTask;

TEST(CheckRange, RejectsRangesPastTheEndWithoutOverflow) {
  EXPECT_TRUE(CheckRange(100, 0, 100).ok());
  EXPECT_TRUE(CheckRange(100, 100, 0).ok());
  EXPECT_EQ(CheckRange(100, 99, 2).code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(CheckRange(100, 101, 0).code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(CheckRange(100, 50, UINT64_MAX).code(), ErrorCode::kOutOfRange);
}

TEST(MemoryVolume, WritesReadBackAndZeroesClear) {
  asio::io_context io;
  auto made = MakeMemoryVolume(1 << 20);
  ASSERT_TRUE(made.ok());
  Volume& v = **made;
  EXPECT_EQ(v.size(), 1u << 20);
  auto data = Pattern(5000, 20000, 1);
  ASSERT_OK(RunTask(io, v.Write(5000, data)));
  std::vector<uint8_t> back(20000);
  ASSERT_OK(RunTask(io, v.Read(5000, back)));
  EXPECT_EQ(back, data);

  // Zero a range that spans partial and whole pages; the rest stays.
  ASSERT_OK(RunTask(io, v.WriteZeroes(6000, 12000)));
  ASSERT_OK(RunTask(io, v.Read(5000, back)));
  for (size_t i = 0; i < back.size(); ++i) {
    uint64_t at = 5000 + i;
    uint8_t want = (at >= 6000 && at < 18000) ? 0 : data[i];
    ASSERT_EQ(back[i], want) << "at " << at;
  }
  ASSERT_OK(RunTask(io, v.Discard(0, 1 << 20)));
  ASSERT_OK(RunTask(io, v.Read(5000, back)));
  EXPECT_EQ(back, std::vector<uint8_t>(20000, 0));
}

TEST(MemoryVolume, OutOfRangeAndBadSizesAreErrors) {
  asio::io_context io;
  auto made = MakeMemoryVolume(4096);
  ASSERT_TRUE(made.ok());
  std::vector<uint8_t> buf(10);
  EXPECT_EQ(RunTask(io, (*made)->Read(4090, buf)).code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(RunTask(io, (*made)->Write(4096, buf)).code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(RunTask(io, (*made)->WriteZeroes(1, 4096)).code(), ErrorCode::kOutOfRange);
  EXPECT_FALSE(MakeMemoryVolume(0).ok());
  EXPECT_FALSE(MakeMemoryVolume(1000).ok());
  EXPECT_FALSE(MakeMemoryVolume(4096, 1024).ok());
}

}  // namespace
}  // namespace tg::volume
