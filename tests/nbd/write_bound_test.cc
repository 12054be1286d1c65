// The NBD server bounds the write payload a connection holds in flight by
// bytes, not only by request count: once the bound is reached it stops
// reading the client's stream, and reads on as writes finish. A volume whose
// writes wait for the test's word makes "in flight" last as long as needed.
#include <gtest/gtest.h>

#include <functional>

#include "nbd/protocol.h"
#include "nbd/server.h"
#include "support/test_util.h"

namespace tg::testing {
namespace {

constexpr size_t kBound = 1 << 20;
constexpr uint32_t kWriteSize = 512 << 10;  // two fit in the bound, the third does not

// Each write is held until released (in order of arrival).
class GatedVolume final : public volume::Volume {
 public:
  explicit GatedVolume(Executor ex) : ex_(ex) {}

  uint64_t size() const override { return 64 << 20; }
  uint32_t block_size() const override { return 512; }
  Task<Status> Read(uint64_t, std::span<uint8_t> out) override {
    std::fill(out.begin(), out.end(), 0);
    co_return Status::Ok();
  }
  Task<Status> Write(uint64_t, std::span<const uint8_t>) override {
    // One event per write: a shared one, reset by each waiter, could lose a wakeup.
    Event& released = *gates_.emplace_back(std::make_unique<Event>(ex_));
    if (released_ >= gates_.size()) released.Set();
    co_await released.Wait();
    co_return Status::Ok();
  }
  Task<Status> Flush() override { co_return Status::Ok(); }
  Task<Status> Discard(uint64_t, uint64_t) override { co_return Status::Ok(); }
  Task<Status> WriteZeroes(uint64_t, uint64_t) override { co_return Status::Ok(); }

  size_t arrived() const { return gates_.size(); }
  // Lets the next `n` writes finish (also writes yet to arrive).
  void Release(size_t n) {
    for (size_t end = released_ + n; released_ < end; ++released_) {
      if (released_ < gates_.size()) gates_[released_]->Set();
    }
  }

 private:
  Executor ex_;
  std::vector<std::unique_ptr<Event>> gates_;  // per arrived write
  size_t released_ = 0;
};

// Until `ready` holds, looking every few milliseconds; false after `timeout`.
Task<bool> WaitUntil(std::function<bool()> ready, Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!ready()) {
    if (Clock::now() >= deadline) co_return false;
    co_await SleepFor(5ms);
  }
  co_return true;
}

using Socket = asio::local::stream_protocol::socket;

Task<Status> SendBytes(Socket& s, std::vector<uint8_t> out) {
  boost::system::error_code ec;
  co_await asio::async_write(s, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Unavailable("client send: {}", ec.message());
  co_return Status::Ok();
}

Task<Status> ReceiveBytes(Socket& s, std::span<uint8_t> in) {
  boost::system::error_code ec;
  co_await asio::async_read(s, asio::buffer(in.data(), in.size()),
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Unavailable("client receive: {}", ec.message());
  co_return Status::Ok();
}

// The oldstyle-free handshake with NBD_OPT_EXPORT_NAME.
Task<Status> Handshake(Socket& s, const std::string& name) {
  std::vector<uint8_t> hello(18);
  TG_CO_RETURN_IF_ERROR(co_await ReceiveBytes(s, hello));
  if (nbd::GetU64(hello.data()) != nbd::kNbdMagic) co_return InvalidArgument("no NBD magic");
  std::vector<uint8_t> b;
  nbd::PutU32(b, nbd::kClientFixedNewstyle | nbd::kClientNoZeroes);
  nbd::PutU64(b, nbd::kOptionMagic);
  nbd::PutU32(b, nbd::kOptExportName);
  nbd::PutU32(b, static_cast<uint32_t>(name.size()));
  b.insert(b.end(), name.begin(), name.end());
  TG_CO_RETURN_IF_ERROR(co_await SendBytes(s, std::move(b)));
  std::vector<uint8_t> size_and_flags(10);
  co_return co_await ReceiveBytes(s, size_and_flags);
}

std::vector<uint8_t> WriteRequest(uint64_t handle, uint64_t offset, uint32_t length) {
  std::vector<uint8_t> req;
  nbd::PutU32(req, nbd::kRequestMagic);
  nbd::PutU16(req, 0);
  nbd::PutU16(req, nbd::kCmdWrite);
  nbd::PutU64(req, handle);
  nbd::PutU64(req, offset);
  nbd::PutU32(req, length);
  req.resize(req.size() + length, static_cast<uint8_t>(handle));
  return req;
}

// The next reply: its handle, or an error if it reports one.
Task<Result<uint64_t>> NextReply(Socket& s) {
  std::vector<uint8_t> reply(nbd::kSimpleReplySize);
  TG_CO_RETURN_IF_ERROR(co_await ReceiveBytes(s, reply));
  if (nbd::GetU32(reply.data()) != nbd::kSimpleReplyMagic) co_return InvalidArgument("bad reply");
  if (uint32_t e = nbd::GetU32(reply.data() + 4))
    co_return Status(ErrorCode::kIoError, fmt::format("error {}", e));
  co_return nbd::GetU64(reply.data() + 8);
}

Task<void> Send(Socket& s, std::vector<uint8_t> bytes) {
  (co_await SendBytes(s, std::move(bytes))).IgnoreError();  // the test reads the outcome
}

Task<void> BoundedByBytes(const std::string& path) {
  Executor ex = co_await asio::this_coro::executor;
  GatedVolume volume(ex);
  nbd::Server server(ex, {.max_write_bytes_in_flight = kBound});
  CO_ASSERT_OK(server.AddExport({.name = "gated", .volume = &volume}));
  CO_ASSERT_OK(server.ListenUnix(path));
  TaskGroup tasks(ex);
  tasks.Spawn("nbd server", server.Run());

  Socket client(ex);
  boost::system::error_code ec;
  co_await client.async_connect(asio::local::stream_protocol::endpoint(path),
                                asio::redirect_error(asio::use_awaitable, ec));
  EXPECT_FALSE(ec) << ec.message();
  if (!ec) {
    EXPECT_OK(co_await Handshake(client, "gated"));
    // Three writes pipelined at once: 1.5 MiB against a 1 MiB bound.
    std::vector<uint8_t> burst;
    for (uint64_t h = 1; h <= 3; ++h) {
      auto w = WriteRequest(h, (h - 1) * kWriteSize, kWriteSize);
      burst.insert(burst.end(), w.begin(), w.end());
    }
    tasks.Spawn("client sends", Send(client, std::move(burst)));
    // The server takes two, then stops reading: the third stays unread.
    EXPECT_TRUE(co_await WaitUntil([&] { return volume.arrived() >= 2; }, 20s));
    EXPECT_TRUE(co_await WaitUntil([&] { return server.payload_waits() >= 1; }, 20s));
    EXPECT_EQ(volume.arrived(), 2u);
    // One finishes: its payload is freed, and the reader takes the third.
    volume.Release(1);
    auto first = co_await NextReply(client);
    EXPECT_TRUE(first.ok() && *first == 1u) << first.status();
    EXPECT_TRUE(co_await WaitUntil([&] { return volume.arrived() >= 3; }, 20s));
    volume.Release(2);
    for (int i = 0; i < 2; ++i) {
      auto r = co_await NextReply(client);
      EXPECT_TRUE(r.ok() && (*r == 2u || *r == 3u)) << r.status();
    }
    // A single write larger than the bound is taken when nothing else is in flight.
    volume.Release(1);
    tasks.Spawn("client sends", Send(client, WriteRequest(4, 0, 2 * kBound)));
    auto alone = co_await NextReply(client);
    EXPECT_TRUE(alone.ok() && *alone == 4u) << alone.status();
    EXPECT_EQ(server.payload_waits(), 1u);
  }
  client.close(ec);
  co_await server.Stop();
  co_await tasks.Close();
}

TEST(NbdWriteBound, TheReaderStopsAtTheBoundAndResumesAsWritesFinish) {
  TempDir dir;
  asio::io_context io;
  RunTask(io, BoundedByBytes(dir.path() + "/nbd.sock"));
}

}  // namespace
}  // namespace tg::testing
