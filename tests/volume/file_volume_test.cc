// The file volume on a real file through io_uring: aligned I/O (O_DIRECT) and
// unaligned I/O (buffered) agree, data survives a reopen, and zeroing works.
// The same on tmpfs, where reads and writes are copied inline instead.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "support/test_util.h"
#include "volume/volume.h"
#include "volume_test_util.h"

namespace tg::volume {
namespace {

using testing::Pattern;

Task<void> ExerciseFileVolume(std::string path) {
  Executor ex = co_await asio::this_coro::executor;
  FileVolumeOptions options{.path = path, .size = 8 << 20};
  auto made = co_await OpenFileVolume(ex, options);
  CO_ASSERT_OK(made.status());
  Volume& v = **made;
  EXPECT_EQ(v.size(), 8u << 20);

  // Aligned buffer and range: the O_DIRECT path.
  void* raw = std::aligned_alloc(4096, 1 << 20);
  std::span<uint8_t> aligned(static_cast<uint8_t*>(raw), 1 << 20);
  auto big = Pattern(1 << 20, 1 << 20, 3);
  std::copy(big.begin(), big.end(), aligned.begin());
  CO_ASSERT_OK(co_await v.Write(1 << 20, aligned));
  // Unaligned, overlapping it: the buffered path.
  auto small = Pattern(1048576 + 1000, 777, 9);
  CO_ASSERT_OK(co_await v.Write(1048576 + 1000, small));
  std::fill(aligned.begin(), aligned.end(), 0);
  CO_ASSERT_OK(co_await v.Read(1 << 20, aligned));  // direct read sees the buffered write
  for (size_t i = 0; i < aligned.size(); ++i) {
    uint8_t want = (i >= 1000 && i < 1777) ? small[i - 1000] : big[i];
    if (aligned[i] != want) {
      ADD_FAILURE() << "mismatch at " << i;
      break;
    }
  }
  CO_ASSERT_OK(co_await v.WriteZeroes(1 << 20, 4096));
  CO_ASSERT_OK(co_await v.Discard((1 << 20) + 8192, 8192));
  std::vector<uint8_t> zeroes(4096);
  CO_ASSERT_OK(co_await v.Read(1 << 20, zeroes));
  EXPECT_EQ(zeroes, std::vector<uint8_t>(4096, 0));
  CO_ASSERT_OK(co_await v.Read((1 << 20) + 8192, zeroes));
  EXPECT_EQ(zeroes, std::vector<uint8_t>(4096, 0));
  EXPECT_EQ((co_await v.Read((8 << 20) - 10, zeroes)).code(), ErrorCode::kOutOfRange);
  CO_ASSERT_OK(co_await v.Flush());
  co_await v.Close();
  std::free(raw);

  // Reopened (size from the file): the data is still there.
  FileVolumeOptions again{.path = path};
  auto reopened = co_await OpenFileVolume(ex, again);
  CO_ASSERT_OK(reopened.status());
  std::vector<uint8_t> tail(1000);
  CO_ASSERT_OK(co_await (*reopened)->Read((2 << 20) - 1000, tail));
  EXPECT_EQ(tail, Pattern((2 << 20) - 1000, 1000, 3));
  co_await (*reopened)->Close();
}

TEST(FileVolume, AlignedAndUnalignedIoAgreeAndPersist) {
  testing::TempDir dir;
  asio::io_context io;
  testing::RunTask(io, ExerciseFileVolume(dir.path() + "/disk.img"));
  struct stat st;
  ASSERT_EQ(stat((dir.path() + "/disk.img").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 8 << 20);
}

TEST(FileVolume, MemoryBackedFileAgreesAndPersists) {
  testing::TempDir dir("/dev/shm");
  asio::io_context io;
  testing::RunTask(io, ExerciseFileVolume(dir.path() + "/disk.img"));
}

TEST(FileVolume, BadFilesAreClearErrors) {
  testing::TempDir dir;
  asio::io_context io;
  FileVolumeOptions missing_dir{.path = dir.path() + "/no/such/dir/disk.img", .size = 4096};
  auto r = testing::RunTask(io, OpenFileVolume(io.get_executor(), missing_dir));
  EXPECT_EQ(r.status().code(), ErrorCode::kIoError);
  FileVolumeOptions empty{.path = dir.path() + "/empty.img"};
  auto e = testing::RunTask(io, OpenFileVolume(io.get_executor(), empty));
  EXPECT_EQ(e.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tg::volume
