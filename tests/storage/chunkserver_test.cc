// A chunkserver in this process, on loopback, driven through the real data
// protocol: writes and reads (whole and partial blocks), durability across a
// reopen, epoch fencing, bit rot caught by read and scrub, and bad input on
// the data port.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "storage/chunkserver/chunk_store.h"
#include "storage/chunkserver/server.h"
#include "storage/common/chunk_client.h"
#include "storage/common/protocol.h"
#include "support/test_util.h"

namespace tg::storage {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + seed + (i >> 12));
  return v;
}

// A store, a server on 127.0.0.1 and a client of it, for one test body.
struct Harness {
  Executor ex;
  std::string dir;
  std::unique_ptr<ChunkStore> store;
  std::unique_ptr<ChunkServer> server;
  std::unique_ptr<ChunkClient> client;
  TaskGroup tasks;
  Harness(Executor e, std::string d) : ex(e), dir(std::move(d)), tasks(e) {}

  Task<Status> Start() {
    TG_CO_ASSIGN_OR_RETURN(store, co_await ChunkStore::Open(ex, dir));
    server = std::make_unique<ChunkServer>(ex, *store);
    TG_CO_RETURN_IF_ERROR(server->Listen("127.0.0.1", 0));
    tasks.Spawn("server", server->Run());
    TG_CO_ASSIGN_OR_RETURN(client, co_await ChunkClient::Connect(ex, address()));
    co_return Status::Ok();
  }
  std::string address() const { return fmt::format("127.0.0.1:{}", server->port()); }
  Task<void> Stop() {
    if (client) co_await client->Close();
    co_await server->Stop();
    co_await tasks.Join();
    co_await store->Close();
  }
};

const uint64_t kChunk = MakeChunkId(5, 1);

// Runs a test body on its own event loop, with a fresh data directory.
void RunInTempDir(Task<void> (*body)(std::string dir)) {
  testing::TempDir dir;
  asio::io_context io;
  testing::RunTask(io, body(dir.path()));
}

Task<void> ReadWriteAndReopen(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  Harness h(ex, dir);
  CO_ASSERT_OK(co_await h.Start());
  ChunkClient* c = h.client.get();
  CO_ASSERT_OK(co_await c->Ping());

  // Never written: zeroes.
  std::vector<uint8_t> out(8192, 0xff);
  CO_ASSERT_OK(co_await c->Read(kChunk, {1, 0}, 4096, out));
  EXPECT_EQ(out, std::vector<uint8_t>(8192, 0));

  // Whole blocks, then a partial write across a block boundary.
  auto big = Bytes(64 << 10, 1);
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, 0, big));
  auto small = Bytes(1000, 9);
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, 4000, small));
  std::vector<uint8_t> back(64 << 10);
  CO_ASSERT_OK(co_await c->Read(kChunk, {1, 0}, 0, back));
  auto want = big;
  std::copy(small.begin(), small.end(), want.begin() + 4000);
  EXPECT_EQ(back, want);
  // Unaligned read inside.
  std::vector<uint8_t> mid(333);
  CO_ASSERT_OK(co_await c->Read(kChunk, {1, 0}, 3999, mid));
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), want.begin() + 3999));

  // Many requests in flight on one connection.
  std::vector<uint8_t> blocks[16];
  TaskGroup writers(ex);
  std::vector<Status> results(16);
  auto one = [](ChunkClient& cl, uint32_t i, std::vector<uint8_t>& data,
                Status& result) -> Task<void> {
    result = co_await cl.Write(kChunk, {1, 0}, (1u << 20) + i * 4096, data);
  };
  for (uint32_t i = 0; i < 16; ++i) {
    blocks[i] = Bytes(4096, static_cast<uint8_t>(i));
    writers.Spawn("write", one(*c, i, blocks[i], results[i]));
  }
  co_await writers.Join();
  for (auto& r : results) EXPECT_TRUE(r.ok()) << r;

  // Large writes: straight to the chunk file (a fresh range), or through the
  // journal (over blocks the journal still holds); both read back.
  auto large = Bytes(1 << 20, 4), over = Bytes(1 << 20, 5);
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, 8 << 20, large));
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, (8 << 20) + 4096, Bytes(4096, 6)));
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, 8 << 20, over));
  std::vector<uint8_t> large_back(1 << 20);
  CO_ASSERT_OK(co_await c->Read(kChunk, {1, 0}, 8 << 20, large_back));
  EXPECT_EQ(large_back, over);

  auto crcs = co_await c->BlockCrcs(kChunk);
  CO_ASSERT_OK(crcs.status());
  EXPECT_NE((*crcs)[0], 0u);
  EXPECT_EQ((*crcs)[100], 0u);  // never written
  co_await h.Stop();

  // Reopened: the data, the checksums and the server's identity are still there.
  Harness again(ex, dir);
  CO_ASSERT_OK(co_await again.Start());
  EXPECT_EQ(again.store->server_id(), h.store->server_id());
  EXPECT_EQ(again.store->ListChunks(), std::vector<uint64_t>{kChunk});
  ChunkClient* c2 = again.client.get();
  std::fill(back.begin(), back.end(), 0);
  CO_ASSERT_OK(co_await c2->Read(kChunk, {1, 0}, 0, back));
  EXPECT_EQ(back, want);
  for (uint32_t i = 0; i < 16; ++i) {
    std::vector<uint8_t> b(4096);
    CO_ASSERT_OK(co_await c2->Read(kChunk, {1, 0}, (1u << 20) + i * 4096, b));
    EXPECT_EQ(b, blocks[i]) << i;
  }
  CO_ASSERT_OK(co_await c2->Delete(kChunk));
  EXPECT_TRUE(again.store->ListChunks().empty());
  // Deleted is not "never written": a reader is told, not handed zeroes.
  std::vector<uint8_t> gone(4096);
  EXPECT_EQ((co_await c2->Read(kChunk, {1, 0}, 0, gone)).code(), ErrorCode::kAborted);
  co_await again.Stop();
}

TEST(ChunkServer, WritesReadBackAndSurviveAReopen) {
  RunInTempDir(ReadWriteAndReopen);
}

Task<void> Fencing(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  Harness h(ex, dir);
  CO_ASSERT_OK(co_await h.Start());
  ChunkClient* c = h.client.get();
  auto data = Bytes(4096, 3);
  CO_ASSERT_OK(co_await c->Write(kChunk, {4, 0}, 0, data));
  // A new writer fences the volume at epoch 5: the old one's writes and
  // reads are refused from then on, for every chunk of the volume.
  CO_ASSERT_OK(co_await c->Fence(VolumeOf(kChunk), 5));
  Status late = co_await c->Write(kChunk, {4, 0}, 0, Bytes(4096, 8));
  EXPECT_EQ(late.code(), ErrorCode::kFailedPrecondition) << late;
  Status other = co_await c->Write(MakeChunkId(5, 77), {4, 0}, 0, data);
  EXPECT_EQ(other.code(), ErrorCode::kFailedPrecondition) << other;
  std::vector<uint8_t> out(4096);
  EXPECT_EQ((co_await c->Read(kChunk, {4, 0}, 0, out)).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ((co_await c->Fence(VolumeOf(kChunk), 3)).code(), ErrorCode::kFailedPrecondition);
  // Another volume is not affected; the new epoch works.
  CO_ASSERT_OK(co_await c->Write(MakeChunkId(6, 0), {1, 0}, 0, data));
  CO_ASSERT_OK(co_await c->Read(kChunk, {5, 0}, 0, out));
  EXPECT_EQ(out, data);  // the late write did not land
  // A write with a newer epoch raises it by itself.
  CO_ASSERT_OK(co_await c->Write(kChunk, {7, 0}, 0, data));
  EXPECT_EQ(h.store->EpochOf(VolumeOf(kChunk)), 7u);
  co_await h.Stop();

  // The fence outlives a restart.
  Harness again(ex, dir);
  CO_ASSERT_OK(co_await again.Start());
  EXPECT_EQ(again.store->EpochOf(VolumeOf(kChunk)), 7u);
  co_await again.Stop();
}

Task<void> VersionsAndFill(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  Harness h(ex, dir);
  CO_ASSERT_OK(co_await h.Start());
  ChunkClient* c = h.client.get();
  auto old_data = Bytes(8192, 1);
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 3}, 0, old_data));
  // Recovery raises the chunk's version: a writer that has not heard of the
  // new replica set is turned away (and refreshes its map).
  CO_ASSERT_OK(co_await c->SetVersion(kChunk, 4));
  Status stale = co_await c->Write(kChunk, {1, 3}, 0, Bytes(4096, 2));
  EXPECT_EQ(stale.code(), ErrorCode::kAborted) << stale;
  EXPECT_EQ((co_await c->SetVersion(kChunk, 2)).code(), ErrorCode::kAborted);
  // A client write lands on block 0 of a fresh replica before the recovery
  // copy does: the copy fills only the blocks never written.
  const uint64_t fresh = MakeChunkId(5, 9);
  auto client_data = Bytes(4096, 7);
  CO_ASSERT_OK(co_await c->Write(fresh, {1, 4}, 0, client_data));
  CO_ASSERT_OK(co_await c->Fill(fresh, {1, 4}, 0, old_data));
  std::vector<uint8_t> back(8192);
  CO_ASSERT_OK(co_await c->Read(fresh, {1, 4}, 0, back));
  EXPECT_TRUE(std::equal(client_data.begin(), client_data.end(), back.begin()));
  EXPECT_TRUE(std::equal(old_data.begin() + 4096, old_data.end(), back.begin() + 4096));
  Status partial = co_await c->Fill(fresh, {1, 4}, 100, Bytes(4096, 1));
  EXPECT_EQ(partial.code(), ErrorCode::kInvalidArgument);
  co_await h.Stop();

  Harness again(ex, dir);  // versions are durable
  CO_ASSERT_OK(co_await again.Start());
  EXPECT_EQ(again.store->VersionOf(kChunk), 4u);
  co_await again.Stop();
}

TEST(ChunkServer, ReplicaSetVersionsAndRecoveryFill) {
  RunInTempDir(VersionsAndFill);
}

TEST(ChunkServer, OlderEpochsAreFencedOutDurably) {
  RunInTempDir(Fencing);
}

Task<void> BitRot(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  Harness h(ex, dir);
  CO_ASSERT_OK(co_await h.Start());
  ChunkClient* c = h.client.get();
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, 0, Bytes(16384, 5)));
  CO_ASSERT_OK(co_await c->Write(MakeChunkId(5, 2), {1, 0}, 0, Bytes(4096, 6)));
  // Flip a byte of block 2 behind the server's back (it wrote with O_DIRECT,
  // so no stale page cache hides the change).
  {
    int fd = ::open(fmt::format("{}/chunks/{:016x}.data", dir, kChunk).c_str(), O_RDWR);
    CO_ASSERT_TRUE(fd >= 0);
    uint8_t b = 0;
    CO_ASSERT_TRUE(::pread(fd, &b, 1, 2 * 4096 + 17) == 1);
    b ^= 0x40;
    CO_ASSERT_TRUE(::pwrite(fd, &b, 1, 2 * 4096 + 17) == 1);
    ::fsync(fd);
    ::close(fd);
  }
  std::vector<uint8_t> out(4096);
  Status bad = co_await c->Read(kChunk, {1, 0}, 2 * 4096, out);
  EXPECT_EQ(bad.code(), ErrorCode::kDataLoss) << bad;
  CO_ASSERT_OK(co_await c->Read(kChunk, {1, 0}, 4096, out));  // its neighbour is fine
  auto found = co_await h.store->Scrub();
  EXPECT_EQ(found, std::vector<uint64_t>{kChunk});
  EXPECT_GE(h.store->corrupt_blocks_found(), 2u);
  // Rewriting the block repairs it.
  CO_ASSERT_OK(co_await c->Write(kChunk, {1, 0}, 2 * 4096, Bytes(4096, 1)));
  EXPECT_TRUE((co_await h.store->Scrub()).empty());
  co_await h.Stop();
}

TEST(ChunkServer, BitRotIsCaughtByReadsAndTheScrubber) {
  RunInTempDir(BitRot);
}

// Sends raw bytes and returns what the server sends back until it closes
// the connection (or a second passes).
Task<std::pair<std::vector<uint8_t>, bool>> SendRaw(uint16_t port, std::vector<uint8_t> bytes) {
  Executor ex = co_await asio::this_coro::executor;
  asio::ip::tcp::socket s(ex);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  co_await asio::async_write(s, asio::buffer(bytes), asio::use_awaitable);
  std::vector<uint8_t> got;
  bool closed = false;
  for (;;) {
    uint8_t buf[4096];
    boost::system::error_code ec;
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer t(ex, std::chrono::seconds(1));
    auto r = co_await (
        s.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec)) ||
        t.async_wait(asio::use_awaitable));
    if (r.index() == 1) break;  // quiet: still open
    if (ec) {
      closed = true;
      break;
    }
    got.insert(got.end(), buf, buf + std::get<0>(r));
  }
  co_return std::make_pair(got, closed);
}

std::vector<uint8_t> Frame(const Header& h, std::vector<uint8_t> payload = {}) {
  auto b = EncodeHeader(h);
  std::vector<uint8_t> out(b.begin(), b.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

Task<void> BadInput(std::string dir) {
  Executor ex = co_await asio::this_coro::executor;
  Harness h(ex, dir);
  CO_ASSERT_OK(co_await h.Start());
  const uint16_t port = h.server->port();

  // Garbage: the connection is closed without a reply.
  auto [g, g_closed] = co_await SendRaw(port, std::vector<uint8_t>(100, 0x5a));
  EXPECT_TRUE(g_closed);
  EXPECT_TRUE(g.empty());

  // A truncated header, then the client goes away: nothing breaks.
  auto trunc = Frame(Header{.op = Op::kPing});
  trunc.resize(20);
  auto [t, t_closed] = co_await SendRaw(port, trunc);
  EXPECT_TRUE(t.empty());

  // A write whose header promises more payload than allowed: closed.
  Header huge{
      .op = Op::kWrite, .request_id = 1, .chunk_id = kChunk, .epoch = 1, .length = kMaxPayload + 1};
  auto [hg, hg_closed] = co_await SendRaw(port, Frame(huge));
  EXPECT_TRUE(hg_closed);

  // Well-framed but wrong: an error reply each, and the connection stays.
  Header unknown{.op = static_cast<Op>(42), .request_id = 2};
  Header outside{.op = Op::kRead,
                 .request_id = 3,
                 .chunk_id = kChunk,
                 .epoch = 1,
                 .offset = static_cast<uint32_t>(kChunkSize - 100),
                 .length = 4096};
  Header bad_crc{.op = Op::kWrite,
                 .request_id = 4,
                 .chunk_id = kChunk,
                 .epoch = 1,
                 .length = 4096,
                 .payload_crc = 1};
  auto bytes = Frame(unknown);
  auto more = Frame(outside);
  bytes.insert(bytes.end(), more.begin(), more.end());
  more = Frame(bad_crc, std::vector<uint8_t>(4096, 1));
  bytes.insert(bytes.end(), more.begin(), more.end());
  auto [replies, r_closed] = co_await SendRaw(port, bytes);
  EXPECT_FALSE(r_closed);
  CO_ASSERT_EQ(replies.size(), 3 * kHeaderSize);
  for (int i = 0; i < 3; ++i) {
    auto r = ParseHeader(
        std::span<const uint8_t, kHeaderSize>(replies.data() + i * kHeaderSize, kHeaderSize));
    CO_ASSERT_OK(r.status());
    EXPECT_TRUE(r->reply);
    EXPECT_EQ(r->request_id, uint64_t(i + 2));
    EXPECT_EQ(r->status, WireStatus::kBadRequest);
  }
  EXPECT_GE(h.server->protocol_errors(), 2u);

  // The server still serves well-behaved clients, old and new.
  CO_ASSERT_OK(co_await h.client->Write(kChunk, {1, 0}, 0, Bytes(4096, 1)));
  auto fresh = co_await ChunkClient::Connect(ex, h.address());
  CO_ASSERT_OK(fresh.status());
  CO_ASSERT_OK(co_await (*fresh)->Ping());
  co_await (*fresh)->Close();
  co_await h.Stop();
}

TEST(ChunkServer, BadInputClosesThatConnectionOnly) {
  RunInTempDir(BadInput);
}

}  // namespace
}  // namespace tg::storage
