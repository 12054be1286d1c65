#include "virtio/blk.h"

#include <gtest/gtest.h>

#include <cstring>

#include "fake_driver.h"

namespace tg::virtio {
namespace {

using testing::FakeDriver;

uint64_t Header(FakeDriver& d, uint32_t type, uint64_t sector) {
  uint64_t gpa = d.Alloc(16);
  uint8_t h[16] = {};
  std::memcpy(h, &type, 4);
  std::memcpy(h + 8, &sector, 8);
  std::memcpy(d.host(gpa), h, 16);
  return gpa;
}

Chain PopOne(FakeDriver& d) {
  auto q = d.MakeQueue(false);
  auto c = q->Pop(d.memory());
  EXPECT_TRUE(c.ok() && *c) << c.status();
  return **c;
}

TEST(BlkRequest, ParsesReadAndWriteRequests) {
  FakeDriver d(8);
  uint64_t h = Header(d, kBlkIn, 77), data = d.Alloc(4096), st = d.Alloc(1);
  d.AddChain({{h, 16, false}, {data, 4096, true}, {st, 1, true}});
  auto r = ParseBlkRequest(PopOne(d));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->type, kBlkIn);
  EXPECT_EQ(r->sector, 77u);
  EXPECT_EQ(r->data_bytes, 4096u);
  EXPECT_EQ(r->status, d.host(st));

  // Header and data in one readable buffer; status at the end of the data buffer.
  FakeDriver e(8);
  uint64_t buf = e.Alloc(16 + 512);
  uint32_t out = kBlkOut;
  std::memcpy(e.host(buf), &out, 4);
  uint64_t tail = e.Alloc(1);
  e.AddChain({{buf, 16 + 512, false}, {tail, 1, true}});
  auto w = ParseBlkRequest(PopOne(e));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->data_bytes, 512u);
  EXPECT_EQ(w->data[0].data, e.host(buf) + 16);
}

TEST(BlkRequest, RejectsMissingHeaderStatusAndWrongDirections) {
  FakeDriver d(8);
  uint64_t small = d.Alloc(8), st = d.Alloc(1);
  d.AddChain({{small, 8, false}, {st, 1, true}});  // header too short
  EXPECT_FALSE(ParseBlkRequest(PopOne(d)).ok());

  FakeDriver e(8);
  uint64_t h = Header(e, kBlkOut, 0);
  e.AddChain({{h, 16, false}});  // no status byte
  EXPECT_FALSE(ParseBlkRequest(PopOne(e)).ok());

  FakeDriver f(8);
  uint64_t hr = Header(f, kBlkIn, 0), data = f.Alloc(512), s2 = f.Alloc(1);
  f.AddChain({{hr, 16, false}, {data, 512, false}, {s2, 1, true}});  // a read into readable memory
  EXPECT_FALSE(ParseBlkRequest(PopOne(f)).ok());
}

TEST(BlkRequest, DiscardSegmentsAreBounded) {
  FakeDriver d(8);
  uint64_t h = Header(d, kBlkDiscard, 0), seg = d.Alloc(32), st = d.Alloc(1);
  BlkSegment s[2] = {{8, 16, 0}, {100, 8, 1}};
  std::memcpy(d.host(seg), s, 32);
  d.AddChain({{h, 16, false}, {seg, 32, false}, {st, 1, true}});
  auto r = ParseBlkRequest(PopOne(d));
  ASSERT_TRUE(r.ok());
  auto segs = ParseBlkSegments(*r, 2);
  ASSERT_TRUE(segs.ok());
  EXPECT_EQ((*segs)[1].sector, 100u);
  EXPECT_EQ((*segs)[1].flags, 1u);
  EXPECT_FALSE(ParseBlkSegments(*r, 1).ok());
}

TEST(BlkConfig, LayoutMatchesTheSpec) {
  BlkConfig c{
      .capacity_sectors = 0x1122334455667788, .seg_max = 126, .blk_size = 4096, .num_queues = 2};
  auto b = EncodeBlkConfig(c);
  ASSERT_EQ(b.size(), 60u);
  uint64_t cap;
  std::memcpy(&cap, b.data(), 8);
  EXPECT_EQ(cap, 0x1122334455667788u);
  uint16_t nq;
  std::memcpy(&nq, b.data() + 34, 2);
  EXPECT_EQ(nq, 2);
  uint32_t bs;
  std::memcpy(&bs, b.data() + 20, 4);
  EXPECT_EQ(bs, 4096u);
}

}  // namespace
}  // namespace tg::virtio
