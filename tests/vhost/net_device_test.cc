// The virtio-net device's buffer handling, without a frontend: frames from
// the guest lose their header (its offload part passed on beside them);
// frames to the guest, after the offload part given, fill posted receive
// buffers (several when mergeable, with num_buffers in the header), wait
// for buffers, and are dropped when none fit; a stopped queue gives its
// buffers back.
#include "vhost_net/net_device.h"

#include <gtest/gtest.h>

namespace tg::vhost_net {
namespace {

class NetDeviceTest : public ::testing::Test {
 protected:
  // A receive chain of one writable buffer of `size` bytes, posted on queue 0.
  std::vector<uint8_t>& Post(size_t size) {
    buffers_.push_back(std::make_unique<std::vector<uint8_t>>(size, 0xee));
    auto& b = *buffers_.back();
    virtio::Chain c{.head = static_cast<uint16_t>(buffers_.size()),
                    .buffers = {{b.data(), static_cast<uint32_t>(b.size()), true}},
                    .writable_bytes = b.size()};
    written_.push_back(-1);
    const size_t i = written_.size() - 1;
    asio::co_spawn(io_, device_.Process(0, std::move(c)),
                   [this, i](std::exception_ptr, uint32_t n) { written_[i] = n; });
    Poll();
    return b;
  }

  void Poll() {
    io_.restart();  // poll() stops the context once it runs out of work
    io_.poll();
  }

  asio::io_context io_;
  std::vector<std::vector<uint8_t>> sent_, offloads_;
  NetDevice device_{io_.get_executor(), 1,
                    [this](std::span<uint8_t> f, std::span<const uint8_t, kOffloadHeader> h) {
                      sent_.emplace_back(f.begin(), f.end());
                      offloads_.emplace_back(h.begin(), h.end());
                    }};
  std::vector<std::unique_ptr<std::vector<uint8_t>>> buffers_;
  std::vector<int64_t> written_;
};

std::vector<uint8_t> Frame(size_t n) {
  std::vector<uint8_t> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = static_cast<uint8_t>(i * 7);
  return f;
}

TEST_F(NetDeviceTest, AFrameFromTheGuestLosesItsHeader) {
  std::vector<uint8_t> header(kNetHeader, 0), frame = Frame(60);
  header[0] = 1, header[6] = 34, header[8] = 16;  // a partial checksum: start 34, at +16
  virtio::Chain c{.head = 1,
                  .buffers = {{header.data(), kNetHeader, false}, {frame.data(), 60, false}},
                  .readable_bytes = kNetHeader + 60};
  asio::co_spawn(io_, device_.Process(1, std::move(c)), asio::detached);
  Poll();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0], frame);
  EXPECT_EQ(offloads_[0], std::vector<uint8_t>(header.begin(), header.begin() + kOffloadHeader));
  // Shorter than a header and an Ethernet header: not passed on.
  virtio::Chain tiny{.head = 2, .buffers = {{header.data(), 8, false}}, .readable_bytes = 8};
  asio::co_spawn(io_, device_.Process(1, std::move(tiny)), asio::detached);
  Poll();
  EXPECT_EQ(sent_.size(), 1u);
  EXPECT_EQ(device_.malformed(), 1u);
}

// Offloads are offered both ways; what the guest's driver accepts decides
// what it may be given. The offload part given goes before the frame.
TEST_F(NetDeviceTest, OffloadsFollowWhatTheDriverAccepted) {
  const uint64_t offered = device_.Features();
  EXPECT_EQ(offered & (kFCsum | kFGuestCsum | kFHostTso4 | kFGuestTso4),
            kFCsum | kFGuestCsum | kFHostTso4 | kFGuestTso4);
  device_.SetFeatures(kFMrgRxbuf);
  EXPECT_FALSE(device_.TakesPartialChecksums());
  EXPECT_FALSE(device_.TakesLargeSegments());
  EXPECT_FALSE(device_.SendsPartialChecksums());
  EXPECT_FALSE(device_.SendsLargeSegments());
  device_.SetFeatures(kFMrgRxbuf | kFHostTso4);
  EXPECT_FALSE(device_.SendsLargeSegments()) << "TSO needs CSUM too";
  device_.SetFeatures(kFMrgRxbuf | kFCsum | kFHostTso4);
  EXPECT_TRUE(device_.SendsPartialChecksums() && device_.SendsLargeSegments());
  device_.SetFeatures(kFMrgRxbuf | kFGuestCsum);
  EXPECT_TRUE(device_.TakesPartialChecksums());
  EXPECT_FALSE(device_.TakesLargeSegments()) << "TSO without its own flag";
  device_.SetFeatures(kFMrgRxbuf | kFGuestCsum | kFGuestTso4);
  EXPECT_TRUE(device_.TakesLargeSegments());
  auto& b = Post(200);
  const uint8_t offload[kOffloadHeader] = {1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0};
  ASSERT_TRUE(device_.Deliver(Frame(100), offload));
  EXPECT_TRUE(std::equal(std::begin(offload), std::end(offload), b.begin()));
  EXPECT_EQ(b[10], 1) << "num_buffers";
  const auto f = Frame(100);
  EXPECT_TRUE(std::equal(f.begin(), f.end(), b.begin() + kNetHeader));
}

TEST_F(NetDeviceTest, MergeableBuffersTakeAFrameAcrossSeveralChains) {
  device_.SetFeatures(kFMrgRxbuf);
  auto& a = Post(64);
  auto& b = Post(64);
  auto& c = Post(64);
  const auto frame = Frame(100);
  ASSERT_TRUE(device_.Deliver(frame));
  Poll();
  EXPECT_EQ(written_[0], 64);
  EXPECT_EQ(written_[1], kNetHeader + 100 - 64);
  EXPECT_EQ(written_[2], -1) << "the third buffer waits for the next frame";
  EXPECT_EQ(a[10], 2) << "num_buffers";
  EXPECT_TRUE(std::equal(a.begin() + kNetHeader, a.end(), frame.begin()));
  EXPECT_TRUE(std::equal(b.begin(), b.begin() + 48, frame.begin() + 52));
  // More than the remaining buffer holds: dropped, the buffer kept.
  EXPECT_FALSE(device_.Deliver(Frame(100)));
  EXPECT_EQ(device_.dropped(), 1u);
  ASSERT_TRUE(device_.Deliver(Frame(20)));
  Poll();
  EXPECT_EQ(written_[2], kNetHeader + 20);
  EXPECT_EQ(c[10], 1);
}

TEST_F(NetDeviceTest, WithoutMergeableBuffersAFrameNeedsOneBigEnoughChain) {
  Post(64);
  Post(64);
  EXPECT_FALSE(device_.Deliver(Frame(100)));
  ASSERT_TRUE(device_.Deliver(Frame(40)));
  Poll();
  EXPECT_EQ(written_[0], kNetHeader + 40);
  // A stopped queue gives back what it held, empty.
  device_.Stop(0);
  Poll();
  EXPECT_EQ(written_[1], 0);
  EXPECT_FALSE(device_.Deliver(Frame(40)));
}

TEST_F(NetDeviceTest, ABufferSmallerThanTheHeaderTakesPartOfIt) {
  device_.SetFeatures(kFMrgRxbuf);
  auto& a = Post(8);
  auto& b = Post(200);
  const auto frame = Frame(100);
  ASSERT_TRUE(device_.Deliver(frame));
  Poll();
  EXPECT_EQ(written_[0], 8);
  EXPECT_EQ(written_[1], kNetHeader + 100 - 8);
  EXPECT_EQ(a[0], 0);
  EXPECT_TRUE(
      std::equal(b.begin() + (kNetHeader - 8), b.begin() + (kNetHeader - 8) + 100, frame.begin()));
}

}  // namespace
}  // namespace tg::vhost_net
