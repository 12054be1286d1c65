// The virtio-blk device against a memory volume, driven by the fake driver:
// the requests a guest cannot easily send from busybox, and bad ones.
#include "vhost_blk/blk_device.h"

#include <gtest/gtest.h>

#include <cstring>

#include "../virtio/fake_driver.h"
#include "support/test_util.h"

namespace tg::vhost_blk {
namespace {

using namespace tg::virtio;
using testing::FakeDriver;

struct Rig {
  FakeDriver d{8};
  std::unique_ptr<volume::Volume> volume = std::move(volume::MakeMemoryVolume(1 << 20).value());
  BlkDevice device{*volume, 1, "serial-123"};
  asio::io_context io;
  std::optional<SplitQueue> queue;

  uint64_t Header(uint32_t type, uint64_t sector) {
    uint64_t gpa = d.Alloc(16);
    std::memset(d.host(gpa), 0, 16);
    std::memcpy(d.host(gpa), &type, 4);
    std::memcpy(d.host(gpa) + 8, &sector, 8);
    return gpa;
  }
  // Runs one request; returns its status byte and the bytes written.
  std::pair<uint8_t, uint32_t> Run(const std::vector<FakeDriver::Seg>& segs) {
    d.AddChain(segs);
    if (!queue) queue = std::move(d.MakeQueue(false).value());
    auto chain = queue->Pop(d.memory());
    EXPECT_TRUE(chain.ok() && *chain);
    uint8_t* status = d.host(segs.back().gpa) + segs.back().len - 1;
    *status = 0xee;
    uint32_t written = testing::RunTask(io, device.Process(0, std::move(**chain)));
    return {*status, written};
  }
};

TEST(BlkDevice, WriteZeroesGetIdAndRangeChecks) {
  Rig r;
  std::vector<uint8_t> ones(8192, 0xff);
  ASSERT_OK(testing::RunTask(r.io, r.volume->Write(0, ones)));

  uint64_t seg = r.d.Alloc(16), st = r.d.Alloc(1);
  BlkSegment s{.sector = 4, .num_sectors = 4, .flags = 0};  // bytes 2048..4095
  std::memcpy(r.d.host(seg), &s, 16);
  auto [zs, zw] =
      r.Run({{r.Header(kBlkWriteZeroes, 0), 16, false}, {seg, 16, false}, {st, 1, true}});
  EXPECT_EQ(zs, kBlkOk);
  std::vector<uint8_t> back(8192);
  ASSERT_OK(testing::RunTask(r.io, r.volume->Read(0, back)));
  for (size_t i = 0; i < back.size(); ++i) {
    ASSERT_EQ(back[i], (i >= 2048 && i < 4096) ? 0 : 0xff) << i;
  }

  uint64_t id = r.d.Alloc(20), st2 = r.d.Alloc(1);
  auto [is, iw] = r.Run({{r.Header(kBlkGetId, 0), 16, false}, {id, 20, true}, {st2, 1, true}});
  EXPECT_EQ(is, kBlkOk);
  EXPECT_EQ(iw, 21u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(r.d.host(id)), 10), "serial-123");

  // A read past the end, and a write that is not whole sectors: I/O errors.
  uint64_t data = r.d.Alloc(4096), st3 = r.d.Alloc(1);
  auto [rs, rw] = r.Run(
      {{r.Header(kBlkIn, (1 << 20) / 512 - 4), 16, false}, {data, 4096, true}, {st3, 1, true}});
  EXPECT_EQ(rs, kBlkIoErr);
  uint64_t odd = r.d.Alloc(100), st4 = r.d.Alloc(1);
  auto [ws, ww] = r.Run({{r.Header(kBlkOut, 0), 16, false}, {odd, 100, false}, {st4, 1, true}});
  EXPECT_EQ(ws, kBlkIoErr);
  uint64_t st5 = r.d.Alloc(1);
  auto [us, uw] = r.Run({{r.Header(99, 0), 16, false}, {st5, 1, true}});
  EXPECT_EQ(us, kBlkUnsupp);
}

TEST(BlkDevice, ConfigSpaceDescribesTheVolume) {
  Rig r;
  auto c = r.device.Config();
  uint64_t capacity;
  std::memcpy(&capacity, c.data(), 8);
  EXPECT_EQ(capacity, (1u << 20) / 512);
  EXPECT_TRUE(r.device.Features() & kBlkFFlush);
  EXPECT_TRUE(r.device.Features() & kBlkFWriteZeroes);
}

// Firmware (SeaBIOS) reads only 512-byte logical blocks: a volume with
// 4 KiB blocks is shown as 512-byte logical blocks with a 4 KiB physical
// block (the topology), which guests align to.
TEST(BlkDevice, FourKiBVolumesShow512ByteLogicalBlocksAnd4KiBPhysical) {
  auto volume = volume::MakeMemoryVolume(1 << 20, 4096);
  ASSERT_TRUE(volume.ok()) << volume.status();
  BlkDevice device(**volume, 1, "v");
  EXPECT_TRUE(device.Features() & kBlkFTopology);
  auto c = device.Config();
  uint32_t blk_size;
  std::memcpy(&blk_size, c.data() + 20, 4);
  EXPECT_EQ(blk_size, 512u);
  EXPECT_EQ(c[24], 3);  // physical block: 2^3 logical ones
  uint16_t min_io;
  std::memcpy(&min_io, c.data() + 26, 2);
  EXPECT_EQ(min_io, 8);
  uint32_t opt_io;
  std::memcpy(&opt_io, c.data() + 28, 4);
  EXPECT_EQ(opt_io, 8u);
}

}  // namespace
}  // namespace tg::vhost_blk
