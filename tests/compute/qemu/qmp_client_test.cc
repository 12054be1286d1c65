// The QMP client against a fake QEMU on a Unix socket in the test: the
// handshake, replies matched by id whatever their order and framing, events
// in between, errors, and peers that break the protocol or go away.
#include "compute/qemu/qmp_client.h"

#include <gtest/gtest.h>

#include "base/listen.h"
#include "support/test_util.h"

namespace tg::compute {
namespace {

using testing::RunTask;
using testing::TempDir;
using Json = nlohmann::json;

constexpr const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}})"
    "\r\n";

// A QEMU stand-in: one connection, driven step by step by the test.
class FakeQemu {
 public:
  FakeQemu(Executor ex, std::string path) : path_(std::move(path)) {
    auto a = ListenUnix(ex, "fake qmp", path_);
    EXPECT_TRUE(a.ok()) << a.status();
    if (a.ok()) acceptor_ = std::move(*a);
  }
  const std::string& path() const { return path_; }

  Task<Status> Accept() {
    TG_CO_ASSIGN_OR_RETURN(StreamSocket s, co_await AcceptStream(*acceptor_));
    socket_.emplace(std::move(s));
    co_return Status::Ok();
  }
  Task<void> Write(std::string bytes) {
    boost::system::error_code ec;
    co_await asio::async_write(*socket_, asio::buffer(bytes),
                               asio::redirect_error(asio::use_awaitable, ec));
  }
  // The next command the client sent.
  Task<Json> ReadCommand() {
    boost::system::error_code ec;
    size_t n = co_await asio::async_read_until(*socket_, asio::dynamic_buffer(in_), '\n',
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Json();
    Json j = Json::parse(in_.substr(0, n), nullptr, false);
    in_.erase(0, n);
    co_return j;
  }
  // Accepts, greets, and answers qmp_capabilities.
  Task<void> Greet() {
    if (!(co_await Accept()).ok()) co_return;
    co_await Write(kGreeting);
    Json caps = co_await ReadCommand();
    EXPECT_EQ(caps.value("execute", std::string()), std::string("qmp_capabilities"));
    co_await Write(Reply(caps));
  }
  void CloseConnection() {
    boost::system::error_code ec;
    if (socket_) socket_->close(ec);
  }

  // Values as JSON text: a braced json temporary inside a co_await
  // expression is what GCC 12 miscompiles.
  static std::string Reply(const Json& command, std::string_view value = "{}") {
    Json reply = {{"return", Json::parse(value)}, {"id", command.value("id", Json())}};
    return reply.dump() + "\n";
  }
  static std::string EventLine(std::string_view name, std::string_view data = "{}") {
    Json event = {{"event", name},
                  {"data", Json::parse(data)},
                  {"timestamp", {{"seconds", 1700000000}, {"microseconds", 42}}}};
    return event.dump() + "\n";
  }

 private:
  std::string path_;
  std::unique_ptr<UnixAcceptor> acceptor_;
  std::optional<StreamSocket> socket_;
  std::string in_;
};

class QmpClientTest : public ::testing::Test {
 protected:
  std::string SocketPath() const { return dir_.path() + "/qmp.sock"; }
  // Runs the fake peer and the client side by side until both end.
  void Run(Task<void> peer, Task<void> client) {
    RunTask(io_, [](Task<void> a, Task<void> b) -> Task<void> {
      co_await (std::move(a) && std::move(b));
    }(std::move(peer), std::move(client)));
  }

  TempDir dir_;
  asio::io_context io_;
};

Task<std::unique_ptr<QmpClient>> ConnectOrFail(const std::string& path) {
  auto c = co_await QmpClient::Connect(co_await asio::this_coro::executor, path, 10s);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) co_return nullptr;
  co_return std::move(*c);
}

TEST_F(QmpClientTest, RepliesMatchTheirCommandsWhateverTheOrderAndFraming) {
  FakeQemu qemu(io_.get_executor(), SocketPath());
  auto peer = [](FakeQemu& q) -> Task<void> {
    co_await q.Greet();
    Json a = co_await q.ReadCommand(), b = co_await q.ReadCommand();
    EXPECT_NE(a["id"], b["id"]);
    Json status = a["execute"] == "query-status" ? a : b,
         name = a["execute"] == "query-status" ? b : a;
    EXPECT_EQ(name["execute"], std::string("query-name"));
    EXPECT_EQ(status["arguments"], Json::parse(R"({"verbose": true})"));
    EXPECT_FALSE(name.contains("arguments"));
    // The second command's reply first, an event in between, and the first
    // reply split over three writes.
    co_await q.Write(FakeQemu::Reply(name, R"({"name": "i-1"})"));
    co_await q.Write(FakeQemu::EventLine("RESET", R"({"guest": false})"));
    std::string reply = FakeQemu::Reply(status, R"({"status": "running", "running": true})");
    co_await q.Write(reply.substr(0, 5));
    co_await q.Write(reply.substr(5, 10));
    co_await q.Write(reply.substr(15));
    // Several messages in one write: two events around a reply.
    Json third = co_await q.ReadCommand();
    co_await q.Write(FakeQemu::EventLine("STOP") + FakeQemu::Reply(third) +
                     FakeQemu::EventLine("RESUME"));
  };
  auto client = [](std::string path) -> Task<void> {
    auto c = co_await ConnectOrFail(path);
    CO_ASSERT_TRUE(c);
    Result<Json> status, name;
    auto run = [](QmpClient& c, std::string cmd, Json args, Result<Json>& out) -> Task<void> {
      out = co_await c.Execute(std::move(cmd), std::move(args));
    };
    Json verbose = Json::parse(R"({"verbose": true})");
    co_await (run(*c, "query-status", verbose, status) && run(*c, "query-name", nullptr, name));
    CO_ASSERT_OK(status.status());
    CO_ASSERT_OK(name.status());
    EXPECT_EQ((*status)["status"], std::string("running"));
    EXPECT_EQ((*name)["name"], std::string("i-1"));
    EXPECT_OK((co_await c->Execute("stop")).status());
    std::vector<std::string> seen;
    for (int i = 0; i < 3; ++i) {
      auto e = co_await c->NextEvent();
      CO_ASSERT_TRUE(e);
      seen.push_back(e->name);
      if (e->name == "RESET") {
        EXPECT_EQ(e->data, Json::parse(R"({"guest": false})"));
        EXPECT_EQ(e->seconds, 1700000000);
        EXPECT_EQ(e->microseconds, 42);
      }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"RESET", "STOP", "RESUME"}));
    EXPECT_TRUE(c->connected());
  };
  Run(peer(qemu), client(qemu.path()));
}

TEST_F(QmpClientTest, AnErrorReplyIsFailedPreconditionWithQemusClassAndText) {
  FakeQemu qemu(io_.get_executor(), SocketPath());
  auto peer = [](FakeQemu& q) -> Task<void> {
    co_await q.Greet();
    Json cmd = co_await q.ReadCommand();
    co_await q.Write(fmt::format(
        R"({{"error": {{"class": "DeviceNotFound", "desc": "Device 'blk9' not found"}}, "id": {}}})"
        "\n",
        cmd.value("id", 0)));
  };
  auto client = [](std::string path) -> Task<void> {
    auto c = co_await ConnectOrFail(path);
    CO_ASSERT_TRUE(c);
    Json args = Json::parse(R"({"id": "blk9"})");
    auto r = co_await c->Execute("device_del", args);
    CO_ASSERT_TRUE(!r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(r.status().message().find("DeviceNotFound"), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("Device 'blk9' not found"), std::string::npos);
    EXPECT_TRUE(c->connected());
  };
  Run(peer(qemu), client(qemu.path()));
}

TEST_F(QmpClientTest, APeerThatClosesMidCommandFailsItUnavailableAndEndsTheEvents) {
  FakeQemu qemu(io_.get_executor(), SocketPath());
  auto peer = [](FakeQemu& q) -> Task<void> {
    co_await q.Greet();
    co_await q.ReadCommand();
    co_await q.Write(
        FakeQemu::EventLine("SHUTDOWN", R"({"guest": false, "reason": "host-qmp-quit"})"));
    q.CloseConnection();
  };
  auto client = [](std::string path) -> Task<void> {
    auto c = co_await ConnectOrFail(path);
    CO_ASSERT_TRUE(c);
    auto r = co_await c->Execute("quit");
    EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status();
    co_await c->closed().Wait();
    EXPECT_FALSE(c->connected());
    // The event sent before the end is still delivered, then the end.
    auto e = co_await c->NextEvent();
    CO_ASSERT_TRUE(e);
    EXPECT_EQ(e->name, std::string("SHUTDOWN"));
    EXPECT_FALSE(co_await c->NextEvent());
    auto after = co_await c->Execute("query-status");
    EXPECT_EQ(after.status().code(), ErrorCode::kUnavailable) << after.status();
  };
  Run(peer(qemu), client(qemu.path()));
}

TEST_F(QmpClientTest, AGreetingThatIsNotQmpIsInvalidArgument) {
  for (std::string greeting : {std::string("hello, this is not JSON\n"), std::string("[1, 2]\n"),
                               std::string(R"({"hello": "world"})") + "\n"}) {
    FakeQemu qemu(io_.get_executor(), SocketPath());
    auto peer = [](FakeQemu& q, std::string g) -> Task<void> {
      if (!(co_await q.Accept()).ok()) co_return;
      co_await q.Write(std::move(g));
      co_await q.ReadCommand();  // until the client hangs up
    };
    auto client = [](std::string path) -> Task<void> {
      auto c = co_await QmpClient::Connect(co_await asio::this_coro::executor, path, 10s);
      EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument) << c.status();
    };
    Run(peer(qemu, greeting), client(qemu.path()));
  }
}

TEST_F(QmpClientTest, NobodyListeningOrNoGreetingInTimeIsUnavailable) {
  auto nobody = [](std::string path) -> Task<void> {
    auto c = co_await QmpClient::Connect(co_await asio::this_coro::executor, path, 5s);
    EXPECT_EQ(c.status().code(), ErrorCode::kUnavailable) << c.status();
  };
  RunTask(io_, nobody(SocketPath()));

  FakeQemu qemu(io_.get_executor(), SocketPath());
  auto silent = [](FakeQemu& q) -> Task<void> {
    if (!(co_await q.Accept()).ok()) co_return;
    co_await q.ReadCommand();  // says nothing; waits for the hang-up
  };
  auto client = [](std::string path) -> Task<void> {
    const TimePoint start = Clock::now();
    auto c = co_await QmpClient::Connect(co_await asio::this_coro::executor, path, 200ms);
    EXPECT_EQ(c.status().code(), ErrorCode::kUnavailable) << c.status();
    EXPECT_GE(Clock::now() - start, 200ms);
  };
  Run(silent(qemu), client(qemu.path()));
}

TEST_F(QmpClientTest, GarbageOrATooLongLineClosesTheConnectionWithInvalidArgument) {
  for (bool too_long : {false, true}) {
    FakeQemu qemu(io_.get_executor(), SocketPath());
    auto peer = [](FakeQemu& q, bool too_long) -> Task<void> {
      co_await q.Greet();
      co_await q.ReadCommand();
      if (too_long) {
        // 17 MiB without a newline, in pieces: the client stops at 16 MiB.
        std::string piece(1 << 20, 'x');
        for (int i = 0; i < 17; ++i) co_await q.Write(piece);
      } else {
        co_await q.Write("{\"return\": {}, \"id\": \n");
      }
      co_await q.ReadCommand();  // until the client hangs up
    };
    auto client = [](std::string path) -> Task<void> {
      auto c = co_await ConnectOrFail(path);
      CO_ASSERT_TRUE(c);
      auto r = co_await c->Execute("query-status");
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status();
      EXPECT_FALSE(c->connected());
    };
    Run(peer(qemu, too_long), client(qemu.path()));
  }
}

TEST_F(QmpClientTest, ACommandTimesOutAndItsLateReplyIsDropped) {
  FakeQemu qemu(io_.get_executor(), SocketPath());
  auto peer = [](FakeQemu& q) -> Task<void> {
    co_await q.Greet();
    Json slow = co_await q.ReadCommand();
    Json next = co_await q.ReadCommand();  // sent once the first timed out
    // A reply nobody waits for, one with an id never sent, and one without
    // an id: all dropped, the connection stays.
    co_await q.Write(FakeQemu::Reply(slow, R"({"late": true})"));
    co_await q.Write(R"({"return": {}, "id": 987654})"
                     "\n"
                     R"({"error": {"class": "GenericError", "desc": "JSON parse error"}})"
                     "\n");
    co_await q.Write(FakeQemu::Reply(next, R"({"late": false})"));
  };
  auto client = [](std::string path) -> Task<void> {
    auto c = co_await ConnectOrFail(path);
    CO_ASSERT_TRUE(c);
    auto slow = co_await c->Execute("query-status", nullptr, 100ms);
    EXPECT_EQ(slow.status().code(), ErrorCode::kDeadlineExceeded) << slow.status();
    auto next = co_await c->Execute("query-status");
    CO_ASSERT_OK(next.status());
    EXPECT_EQ((*next)["late"], false);
    Json not_an_object = Json::array();
    auto bad = co_await c->Execute("query-status", not_an_object);
    EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(c->connected());
  };
  Run(peer(qemu), client(qemu.path()));
}

TEST_F(QmpClientTest, WaitForEventSkipsOthersAndTimesOut) {
  FakeQemu qemu(io_.get_executor(), SocketPath());
  auto peer = [](FakeQemu& q) -> Task<void> {
    co_await q.Greet();
    Json cmd = co_await q.ReadCommand();
    co_await q.Write(
        FakeQemu::EventLine("DEVICE_DELETED",
                            R"({"path": "/machine/peripheral/blk2/virtio-backend"})") +
        FakeQemu::EventLine("DEVICE_DELETED",
                            R"({"device": "blk2", "path": "/machine/peripheral/blk2"})") +
        FakeQemu::Reply(cmd));
    co_await q.ReadCommand();  // until the client hangs up
  };
  auto client = [](std::string path) -> Task<void> {
    auto c = co_await ConnectOrFail(path);
    CO_ASSERT_TRUE(c);
    Json args = Json::parse(R"({"id": "blk2"})");
    CO_ASSERT_OK((co_await c->Execute("device_del", args)).status());
    auto deleted = co_await c->WaitForEvent(
        [](const QmpEvent& e) {
          return e.name == "DEVICE_DELETED" && e.data.value("device", "") == "blk2";
        },
        10s);
    CO_ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->data["path"], std::string("/machine/peripheral/blk2"));
    auto none = co_await c->WaitForEvent([](const QmpEvent&) { return true; }, 50ms);
    EXPECT_FALSE(none);
  };
  Run(peer(qemu), client(qemu.path()));
}

TEST_F(QmpClientTest, DestroyingOrClosingTheClientWithCommandsInFlightFailsThem) {
  for (bool destroy : {false, true}) {
    FakeQemu qemu(io_.get_executor(), SocketPath());
    auto peer = [](FakeQemu& q) -> Task<void> {
      co_await q.Greet();
      co_await q.ReadCommand();
      co_await q.ReadCommand();  // neither is answered
      co_await q.Write(FakeQemu::EventLine("BOTH_SEEN"));
      co_await q.ReadCommand();  // until the client hangs up
    };
    auto client = [](std::string path, bool destroy) -> Task<void> {
      Executor ex = co_await asio::this_coro::executor;
      auto c = co_await ConnectOrFail(path);
      CO_ASSERT_TRUE(c);
      TaskGroup tasks(ex);
      std::vector<Result<Json>> results(2);
      auto run = [](QmpClient& c, Result<Json>& out) -> Task<void> {
        out = co_await c.Execute("query-status");
      };
      for (auto& r : results) tasks.Spawn("execute", run(*c, r));
      CO_ASSERT_TRUE(co_await c->NextEvent());  // the peer has both commands
      if (destroy) {
        c.reset();
      } else {
        c->Close();
        c->Close();  // twice is fine
        EXPECT_FALSE(c->connected());
      }
      co_await tasks.Close();
      for (auto& r : results) EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable) << r.status();
    };
    Run(peer(qemu), client(qemu.path(), destroy));
  }
}

}  // namespace
}  // namespace tg::compute
