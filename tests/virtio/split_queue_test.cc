#include "virtio/split_queue.h"

#include <gtest/gtest.h>

#include "fake_driver.h"

namespace tg::virtio {
namespace {

using testing::FakeDriver;

TEST(SplitQueue, PopsChainsInOrderAndPushesThemBack) {
  FakeDriver d(8);
  auto q = d.MakeQueue(false);
  ASSERT_TRUE(q.ok()) << q.status();
  uint64_t a = d.Alloc(100), b = d.Alloc(200), c = d.Alloc(1);
  uint16_t h1 = d.AddChain({{a, 100, false}, {b, 200, true}, {c, 1, true}});
  uint16_t h2 = d.AddChain({{a, 16, false}});

  auto first = q->Pop(d.memory());
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_EQ((*first)->head, h1);
  ASSERT_EQ((*first)->buffers.size(), 3u);
  EXPECT_EQ((*first)->buffers[0].data, d.host(a));
  EXPECT_FALSE((*first)->buffers[0].writable);
  EXPECT_TRUE((*first)->buffers[1].writable);
  EXPECT_EQ((*first)->readable_bytes, 100u);
  EXPECT_EQ((*first)->writable_bytes, 201u);
  auto second = q->Pop(d.memory());
  ASSERT_TRUE(second.ok() && *second);
  EXPECT_EQ((*second)->head, h2);
  auto none = q->Pop(d.memory());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);

  q->Push(h2, 0);
  q->Push(h1, 201);
  auto used = d.TakeUsed();
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].id, h2);
  EXPECT_EQ(used[1].id, h1);
  EXPECT_EQ(used[1].len, 201u);
  EXPECT_TRUE(q->NeedsNotify());
  EXPECT_FALSE(q->NeedsNotify());  // nothing new since
}

TEST(SplitQueue, IndirectTables) {
  FakeDriver d(4);
  auto q = d.MakeQueue(false);
  ASSERT_TRUE(q.ok());
  uint64_t hdr = d.Alloc(16), data = d.Alloc(4096), status = d.Alloc(1);
  uint16_t head = d.AddIndirectChain({{hdr, 16, false}, {data, 4096, true}, {status, 1, true}});
  auto c = q->Pop(d.memory());
  ASSERT_TRUE(c.ok() && *c) << c.status();
  EXPECT_EQ((*c)->head, head);
  ASSERT_EQ((*c)->buffers.size(), 3u);
  EXPECT_EQ((*c)->buffers[1].data, d.host(data));
  EXPECT_EQ((*c)->writable_bytes, 4097u);
}

TEST(SplitQueue, SixteenBitIndicesWrapAround) {
  FakeDriver d(4);
  d.StartAt(65533);
  auto q = d.MakeQueue(false);
  ASSERT_TRUE(q.ok());
  q->SetIndices(65533, 65533);
  uint64_t buf = d.Alloc(8);
  for (int round = 0; round < 3; ++round) {  // 65533 .. 65535, 0 .. 8: crosses the wrap
    std::vector<uint16_t> heads;
    for (int i = 0; i < 4; ++i) heads.push_back(d.AddChain({{buf, 8, true}}));
    for (int i = 0; i < 4; ++i) {
      auto c = q->Pop(d.memory());
      ASSERT_TRUE(c.ok() && *c) << "round " << round << " " << c.status();
      EXPECT_EQ((*c)->head, heads[i]);
      q->Push((*c)->head, 8);
    }
    EXPECT_EQ(d.TakeUsed().size(), 4u);
  }
  EXPECT_EQ(q->last_avail_idx(), static_cast<uint16_t>(65533 + 12));
  EXPECT_EQ(d.UsedIdx(), static_cast<uint16_t>(65533 + 12));
}

TEST(SplitQueue, EventIdxSuppressesAndRequestsNotifications) {
  FakeDriver d(8);
  auto q = d.MakeQueue(true);
  ASSERT_TRUE(q.ok());
  uint64_t buf = d.Alloc(8);
  // An empty pop publishes avail_event: "kick me at the next buffer".
  ASSERT_TRUE(q->Pop(d.memory()).ok());
  EXPECT_EQ(d.AvailEvent(), 0);
  for (int i = 0; i < 3; ++i) d.AddChain({{buf, 8, true}});
  for (int i = 0; i < 3; ++i) {
    auto c = q->Pop(d.memory());
    ASSERT_TRUE(c.ok() && *c);
    q->Push((*c)->head, 0);
  }
  // The driver asks for an interrupt once the used index passes 5.
  d.SetUsedEvent(5);
  EXPECT_FALSE(q->NeedsNotify());  // used went 0 -> 3, event 5 not crossed
  d.AddChain({{buf, 8, true}});
  d.AddChain({{buf, 8, true}});
  d.AddChain({{buf, 8, true}});
  for (int i = 0; i < 3; ++i) {
    auto c = q->Pop(d.memory());
    q->Push((*c)->head, 0);
  }
  EXPECT_TRUE(q->NeedsNotify());  // 3 -> 6 crosses 5
  ASSERT_TRUE(q->Pop(d.memory()).ok());
  EXPECT_EQ(d.AvailEvent(), 6);
}

TEST(SplitQueue, NoInterruptFlagWithoutEventIdx) {
  FakeDriver d(4);
  auto q = d.MakeQueue(false);
  uint64_t buf = d.Alloc(8);
  d.SetAvailFlags(kAvailFlagNoInterrupt);
  d.AddChain({{buf, 8, true}});
  auto c = q->Pop(d.memory());
  q->Push((*c)->head, 0);
  EXPECT_FALSE(q->NeedsNotify());
}

// Malformed rings: each is an error, never a crash or a hang.
TEST(SplitQueue, RejectsDescriptorsOutsideGuestMemory) {
  FakeDriver d(4);
  auto q = d.MakeQueue(false);
  d.AddChain({{FakeDriver::kGuestBase + (1 << 20) - 4, 8, false}});  // runs past the end
  auto r = q->Pop(d.memory());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("outside guest memory"), std::string::npos) << r.status();
  FakeDriver e(4);
  auto q2 = e.MakeQueue(false);
  e.AddChain({{0xffffffffffffff00ull, 0x200, false}});  // address + length overflows
  EXPECT_FALSE(q2->Pop(e.memory()).ok());
}

TEST(SplitQueue, RejectsLoopsAndBadIndices) {
  FakeDriver d(4);
  auto q = d.MakeQueue(false);
  uint64_t buf = d.Alloc(8);
  // 0 -> 1 -> 0 -> ...
  d.WriteDesc(d.desc_table(), 0, buf, 8, kDescFlagNext, 1);
  d.WriteDesc(d.desc_table(), 1, buf, 8, kDescFlagNext, 0);
  d.Publish(0);
  auto r = q->Pop(d.memory());
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("loops"), std::string::npos) << r.status();

  FakeDriver e(4);
  auto q2 = e.MakeQueue(false);
  e.WriteDesc(e.desc_table(), 0, buf, 8, kDescFlagNext, 9);  // next beyond the table
  e.Publish(0);
  EXPECT_FALSE(q2->Pop(e.memory()).ok());

  FakeDriver f(4);
  auto q3 = f.MakeQueue(false);
  f.Publish(7);  // head beyond the table
  EXPECT_FALSE(q3->Pop(f.memory()).ok());

  FakeDriver g(4);
  auto q4 = g.MakeQueue(false);
  g.SetAvailIdx(100);  // the driver claims 100 new buffers in a ring of 4
  EXPECT_FALSE(q4->Pop(g.memory()).ok());
}

TEST(SplitQueue, RejectsBadIndirectTablesAndOrdering) {
  uint64_t buf;
  {
    FakeDriver d(4);
    auto q = d.MakeQueue(false);
    buf = d.Alloc(64);
    d.WriteDesc(d.desc_table(), 0, buf, 24, kDescFlagIndirect, 0);  // not a multiple of 16
    d.Publish(0);
    EXPECT_FALSE(q->Pop(d.memory()).ok());
  }
  {
    FakeDriver d(4);
    auto q = d.MakeQueue(false);
    uint64_t table = d.Alloc(32);
    d.WriteDesc(d.host(table), 0, table, 32, kDescFlagIndirect, 0);  // nested indirect
    d.WriteDesc(d.desc_table(), 0, table, 32, kDescFlagIndirect, 0);
    d.Publish(0);
    auto r = q->Pop(d.memory());
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("nested"), std::string::npos);
  }
  {
    FakeDriver d(4);
    auto q = d.MakeQueue(false);
    uint64_t b = d.Alloc(8);
    d.AddChain({{b, 8, true}, {b, 8, false}});  // readable after writable
    EXPECT_FALSE(q->Pop(d.memory()).ok());
  }
  {
    FakeDriver d(4);
    uint64_t b = d.Alloc(8);
    auto q = d.MakeQueue(false);
    // An indirect table whose chain loops back on itself.
    uint64_t table = d.Alloc(32);
    d.WriteDesc(d.host(table), 0, b, 8, kDescFlagNext, 1);
    d.WriteDesc(d.host(table), 1, b, 8, kDescFlagNext, 0);
    d.WriteDesc(d.desc_table(), 0, table, 32, kDescFlagIndirect, 0);
    d.Publish(0);
    EXPECT_FALSE(q->Pop(d.memory()).ok());
  }
}

TEST(SplitQueue, CreateChecksSizeAndAlignment) {
  alignas(16) uint8_t ring[4096] = {};
  EXPECT_FALSE(SplitQueue::Create(3, ring, ring + 64, ring + 128, false).ok());
  EXPECT_FALSE(SplitQueue::Create(0, ring, ring + 64, ring + 128, false).ok());
  EXPECT_FALSE(SplitQueue::Create(4, ring + 1, ring + 64, ring + 128, false).ok());
  EXPECT_TRUE(SplitQueue::Create(4, ring, ring + 64, ring + 128, false).ok());
}

}  // namespace
}  // namespace tg::virtio
