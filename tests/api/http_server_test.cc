// The API's HTTP frontend against real clients over loopback: a server on
// its own event loop thread whose handler echoes the request as JSON, and
// clients that write raw HTTP (to send what no polite client would) and read
// answers with Beast, plus curl for HTTPS when it is installed.
#include "api/http/http_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/http/self_signed.h"
#include "support/test_util.h"

namespace tg::testing {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using api::HttpRequest;
using api::HttpResponse;
using api::HttpServer;
using api::HttpServerOptions;
using nlohmann::json;
using Response = http::response<http::string_body>;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr Duration kClientTimeout = 10s;  // no client step may hang the test

// Echoes the request; "/throw" throws, "/close" answers with connection: close.
Task<HttpResponse> Echo(HttpRequest request) {
  if (request.target.starts_with("/throw")) throw std::runtime_error("handler exploded");
  json headers = json::object();
  for (const auto& [name, value] : request.headers) headers[name] = value;
  const json echo = {{"method", request.method}, {"target", request.target}, {"headers", headers},
                     {"body", request.body},     {"peer", request.peer},     {"tls", request.tls}};
  HttpResponse response;
  response.body = echo.dump();
  response.headers["x-echo"] = "yes";
  if (request.target.starts_with("/close")) response.headers["connection"] = "close";
  if (request.target.starts_with("/inject")) response.headers["x-bad"] = "a\r\nSet-Cookie: x=1";
  if (request.target.starts_with("/status")) response.status = 1000;
  co_return response;
}

// The server runs on its own thread; the test's clients on the test thread.
class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto server = HttpServer::Create(server_io_.get_executor(), std::move(options), Echo);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
    asio::co_spawn(server_io_, server_->Run(), asio::detached);
    server_thread_ = std::thread([this] { server_io_.run(); });
  }

  void TearDown() override {
    if (!server_) return;
    std::promise<void> stopped;
    asio::co_spawn(server_io_, server_->Stop(), [&](std::exception_ptr) { stopped.set_value(); });
    stopped.get_future().wait();
    server_thread_.join();
    server_.reset();
  }

  template <typename T>
  T Client(Task<T> task) {
    return RunTask(client_io_, std::move(task));
  }

  // Runs `f` on the server's thread (its objects belong to that loop).
  size_t OnServer(std::function<size_t()> f) {
    std::promise<size_t> out;
    asio::post(server_io_, [&] { out.set_value(f()); });
    return out.get_future().get();
  }

  Task<tcp::socket> Connect() {
    tcp::socket socket(client_io_);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server_->port());
    auto [ec] = co_await socket.async_connect(ep, kAsTuple);
    EXPECT_FALSE(ec) << ec.message();
    co_return socket;
  }

  asio::io_context server_io_;
  asio::io_context client_io_;
  std::unique_ptr<HttpServer> server_;
  std::thread server_thread_;
};

template <typename T>
Task<std::optional<T>> Within(Duration timeout, Task<T> op) {
  auto outcome = co_await (std::move(op) || SleepFor(timeout));
  if (outcome.index() == 1) co_return std::nullopt;
  co_return std::move(std::get<0>(outcome));
}

// Writes raw bytes; a failure is returned, not asserted (the server may
// have answered and closed before everything was sent).
template <typename Stream>
Task<bool> Send(Stream& stream, std::string bytes) {
  auto sent =
      co_await Within(kClientTimeout, asio::async_write(stream, asio::buffer(bytes), kAsTuple));
  co_return sent && !std::get<0>(*sent);
}

// One response, or nullopt if none came (closed, garbled or too slow).
template <typename Stream>
Task<std::optional<Response>> Receive(Stream& stream, beast::flat_buffer& buffer) {
  Response response;
  auto got = co_await Within(kClientTimeout, http::async_read(stream, buffer, response, kAsTuple));
  if (!got || std::get<0>(*got)) co_return std::nullopt;
  co_return response;
}

// True if the peer closes the stream within `timeout` (reading and
// dropping whatever else it sends).
template <typename Stream>
Task<bool> ClosedWithin(Stream& stream, Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  char sink[4096];
  for (;;) {
    auto got = co_await Within(deadline - Clock::now(),
                               stream.async_read_some(asio::buffer(sink), kAsTuple));
    if (!got) co_return false;
    if (std::get<0>(*got)) co_return true;  // EOF or reset
  }
}

json Body(const Response& r) {
  return json::parse(r.body());
}

std::string Get(std::string_view target, std::string_view extra = "") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: ecs.tiangong.test\r\n{}\r\n", target, extra);
}

TEST_F(HttpServerTest, GetWithQueryReachesTheHandlerWithLowerCasedHeaders) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(
        s, Get("/?Action=DescribeRegions&Version=2014-05-26", "X-Acs-Signature-Nonce: abc\r\n")));
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200);
    EXPECT_EQ((*r)[http::field::content_type], "application/json;charset=utf-8");
    EXPECT_EQ((*r)["x-echo"], "yes");
    const json echo = Body(*r);
    EXPECT_EQ(echo["method"], "GET");
    EXPECT_EQ(echo["target"], "/?Action=DescribeRegions&Version=2014-05-26");
    EXPECT_EQ(echo["headers"]["x-acs-signature-nonce"], "abc");
    EXPECT_EQ(echo["headers"]["host"], "ecs.tiangong.test");
    EXPECT_EQ(echo["body"], "");
    EXPECT_EQ(echo["tls"], false);
    EXPECT_TRUE(echo["peer"].get<std::string>().starts_with("127.0.0.1:")) << echo["peer"];
  }());
}

TEST_F(HttpServerTest, PostFormBodyReachesTheHandler) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    const std::string form = "Action=CreateVpc&RegionId=cn-hangzhou&CidrBlock=10.0.0.0%2F8";
    CO_ASSERT_TRUE(co_await Send(
        s, fmt::format("POST / HTTP/1.1\r\nHost: vpc.test\r\nContent-Type: "
                       "application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
                       form.size(), form)));
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200);
    const json echo = Body(*r);
    EXPECT_EQ(echo["method"], "POST");
    EXPECT_EQ(echo["body"], form);
    EXPECT_EQ(echo["headers"]["content-type"], "application/x-www-form-urlencoded");
  }());
}

TEST_F(HttpServerTest, ChunkedPostBodyIsReassembled) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(s,
                                 "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "7\r\nAction=\r\n"
                                 "f\r\nDescribeRegions\r\n"
                                 "0\r\n\r\n"));
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200);
    EXPECT_EQ(Body(*r)["body"], "Action=DescribeRegions");
  }());
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(s, Get("/first")));
    auto first = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(first);
    EXPECT_TRUE(first->keep_alive());
    CO_ASSERT_TRUE(co_await Send(s, Get("/second")));
    auto second = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(second);
    EXPECT_EQ(Body(*first)["target"], "/first");
    EXPECT_EQ(Body(*second)["target"], "/second");
    EXPECT_EQ(Body(*first)["peer"], Body(*second)["peer"]);  // the same connection
    // Pipelined: two requests in one write, two answers in order.
    CO_ASSERT_TRUE(co_await Send(s, Get("/third") + Get("/fourth")));
    auto third = co_await Receive(s, buffer);
    auto fourth = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(third && fourth);
    EXPECT_EQ(Body(*third)["target"], "/third");
    EXPECT_EQ(Body(*fourth)["target"], "/fourth");
  }());
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10AreHonoured) {
  StartServer();
  Client([&]() -> Task<void> {
    {  // the client asks to close
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(s, Get("/", "Connection: close\r\n")));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_FALSE(r->keep_alive());
      EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    }
    {  // HTTP/1.0 without keep-alive closes after one answer
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(s, "GET /old HTTP/1.0\r\n\r\n"));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->version(), 10);
      EXPECT_EQ(Body(*r)["target"], "/old");
      EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    }
    {  // HTTP/1.0 with keep-alive stays open
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(s, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto a = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(a);
      EXPECT_TRUE(a->keep_alive());
      CO_ASSERT_TRUE(co_await Send(s, "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto b = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(b);
      EXPECT_EQ(Body(*b)["target"], "/b");
    }
    {  // the handler's response asks to close
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(s, Get("/close")));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_FALSE(r->keep_alive());
      EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    }
  }());
}

TEST_F(HttpServerTest, OtherMethodsGet405WithAnAlibabaErrorBody) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(s, "DELETE / HTTP/1.1\r\nHost: ecs.test\r\n\r\n"));
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 405);
    EXPECT_EQ((*r)[http::field::content_type], "application/json;charset=utf-8");
    const json error = Body(*r);
    EXPECT_EQ(error["Code"], "UnsupportedHTTPMethod");
    EXPECT_EQ(error["HostId"], "ecs.test");
    EXPECT_FALSE(error["RequestId"].get<std::string>().empty());
    EXPECT_FALSE(error["Message"].get<std::string>().empty());
    // The connection is still good.
    CO_ASSERT_TRUE(co_await Send(s, Get("/after")));
    auto after = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(after);
    EXPECT_EQ(after->result_int(), 200);
  }());
}

TEST_F(HttpServerTest, HttpsWithSelfSignedCertificate) {
  TempDir dir;
  const std::string cert = dir.path() + "/api.crt", key = dir.path() + "/api.key";
  ASSERT_OK(api::WriteSelfSignedCertificate(cert, key, {"localhost", "127.0.0.1", "::1"}, 30));
  struct stat key_stat {};
  ASSERT_EQ(::stat(key.c_str(), &key_stat), 0);
  EXPECT_EQ(key_stat.st_mode & 0777, 0600);
  HttpServerOptions options;
  options.tls_cert = cert;
  options.tls_key = key;
  StartServer(options);
  ASSERT_TRUE(server_->tls());

  Client([&]() -> Task<void> {
    {  // a client that trusts the certificate as its CA, checking the name
      ssl::context trusting(ssl::context::tls_client);
      trusting.load_verify_file(cert);
      trusting.set_verify_mode(ssl::verify_peer);
      ssl::stream<tcp::socket> tls(co_await Connect(), trusting);
      tls.set_verify_callback(ssl::host_name_verification("localhost"));
      SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
      auto [ec] = co_await tls.async_handshake(ssl::stream_base::client, kAsTuple);
      CO_ASSERT_TRUE(!ec);
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(tls, Get("/?Action=DescribeRegions")));
      auto r = co_await Receive(tls, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->result_int(), 200);
      EXPECT_EQ(Body(*r)["tls"], true);
      EXPECT_EQ(Body(*r)["target"], "/?Action=DescribeRegions");
      // Keep-alive over TLS too.
      CO_ASSERT_TRUE(co_await Send(tls, Get("/again")));
      auto again = co_await Receive(tls, buffer);
      CO_ASSERT_TRUE(again);
      EXPECT_EQ(Body(*again)["target"], "/again");
    }
    {  // a client that checks a name the certificate does not carry fails
      ssl::context trusting(ssl::context::tls_client);
      trusting.load_verify_file(cert);
      trusting.set_verify_mode(ssl::verify_peer);
      ssl::stream<tcp::socket> tls(co_await Connect(), trusting);
      tls.set_verify_callback(ssl::host_name_verification("evil.example"));
      auto [ec] = co_await tls.async_handshake(ssl::stream_base::client, kAsTuple);
      EXPECT_TRUE(ec);
    }
    {  // plain HTTP to the HTTPS port gets no HTTP answer
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      co_await Send(s, Get("/"));
      EXPECT_FALSE(co_await Receive(s, buffer));
    }
  }());

  // curl, when installed, as a real client verifying against the certificate.
  if (std::system("command -v curl >/dev/null 2>&1") == 0) {
    const std::string command =
        fmt::format("curl -sS --max-time 10 --cacert {} 'https://127.0.0.1:{}/?From=curl' -d 'a=b'",
                    cert, server_->port());
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char chunk[4096];
    for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) out.append(chunk, n);
    ASSERT_EQ(::pclose(pipe), 0) << out;
    const json echo = json::parse(out);
    EXPECT_EQ(echo["target"], "/?From=curl");
    EXPECT_EQ(echo["body"], "a=b");
    EXPECT_EQ(echo["tls"], true);
  }
}

TEST_F(HttpServerTest, BadCertificateOptionsAreRefused) {
  asio::io_context io;
  HttpServerOptions only_cert;
  only_cert.listen = "127.0.0.1:0";
  only_cert.tls_cert = "/nonexistent.crt";
  EXPECT_FALSE(HttpServer::Create(io.get_executor(), only_cert, Echo).ok());
  only_cert.tls_key = "/nonexistent.key";
  EXPECT_FALSE(HttpServer::Create(io.get_executor(), only_cert, Echo).ok());
  for (const char* listen : {"127.0.0.1", "127.0.0.1:99999", "::1:80", "[::1]80", ":80", "x:1"}) {
    HttpServerOptions bad;
    bad.listen = listen;
    EXPECT_FALSE(HttpServer::Create(io.get_executor(), bad, Echo).ok()) << listen;
  }
  TempDir dir;
  EXPECT_FALSE(
      api::WriteSelfSignedCertificate(dir.path() + "/c", dir.path() + "/k", {"bad name!"}, 1).ok());
  EXPECT_FALSE(
      api::WriteSelfSignedCertificate(dir.path() + "/c", dir.path() + "/k", {"localhost"}, 0).ok());
  EXPECT_FALSE(api::WriteSelfSignedCertificate(dir.path() + "/c", dir.path() + "/k", {}, 1).ok());
}

TEST_F(HttpServerTest, MalformedRequestGets400AndTheServerServesOn) {
  StartServer();
  Client([&]() -> Task<void> {
    {
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(s, "THIS IS NOT HTTP\r\n\r\n"));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->result_int(), 400);
      EXPECT_EQ(Body(*r)["Code"], "MalformedRequest");
      EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    }
    {  // a bad chunk size
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(
          s, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->result_int(), 400);
    }
    tcp::socket next = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(next, Get("/next")));
    auto r = co_await Receive(next, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 200);
  }());
}

TEST_F(HttpServerTest, OversizedHeaderGets431) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    co_await Send(s, Get("/", "X-Big: " + std::string(64 << 10, 'a') + "\r\n"));
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 431);
    EXPECT_TRUE(co_await ClosedWithin(s, 5s));
  }());
}

TEST_F(HttpServerTest, OversizedBodyGets413) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(options);
  Client([&]() -> Task<void> {
    {  // announced by Content-Length
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      co_await Send(
          s, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + std::string(4096, 'b'));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->result_int(), 413);
      EXPECT_EQ(Body(*r)["Code"], "RequestEntityTooLarge");
      EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    }
    {  // discovered while reading chunks
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      co_await Send(s, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", 2000, std::string(2000, 'c')));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->result_int(), 413);
    }
    {  // at the limit is fine
      tcp::socket s = co_await Connect();
      beast::flat_buffer buffer;
      CO_ASSERT_TRUE(co_await Send(s, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" +
                                          std::string(1024, 'd')));
      auto r = co_await Receive(s, buffer);
      CO_ASSERT_TRUE(r);
      EXPECT_EQ(r->result_int(), 200);
    }
  }());
}

TEST_F(HttpServerTest, SlowHeaderIsAnswered408AndClosed) {
  HttpServerOptions options;
  options.header_timeout = 300ms;
  StartServer(options);
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    const auto start = Clock::now();
    CO_ASSERT_TRUE(co_await Send(s, "GET / HTTP/1.1\r\nHost: x\r\n"));  // and stalls
    beast::flat_buffer buffer;
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 408);
    EXPECT_GE(Clock::now() - start, 250ms);
    EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    // A client that connects and sends nothing is closed too.
    tcp::socket silent = co_await Connect();
    EXPECT_TRUE(co_await ClosedWithin(silent, 5s));
  }());
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions options;
  options.idle_timeout = 300ms;
  StartServer(options);
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(s, Get("/")));
    CO_ASSERT_TRUE(co_await Receive(s, buffer));
    const auto start = Clock::now();
    EXPECT_TRUE(co_await ClosedWithin(s, 5s));
    EXPECT_GE(Clock::now() - start, 250ms);
  }());
}

TEST_F(HttpServerTest, TwoHundredConcurrentConnectionsAreAllAnswered) {
  StartServer();
  constexpr int kClients = 200;
  Client([&]() -> Task<void> {
    // All connected first, so that all are open at the server at once.
    std::vector<tcp::socket> sockets;
    for (int i = 0; i < kClients; ++i) sockets.push_back(co_await Connect());
    const auto deadline = Clock::now() + kClientTimeout;
    while (OnServer([&] { return server_->connections_open(); }) < size_t{kClients} &&
           Clock::now() < deadline) {
      co_await SleepFor(5ms);
    }
    EXPECT_EQ(OnServer([&] { return server_->connections_open(); }), size_t{kClients});
    int answered = 0;
    TaskGroup clients(co_await asio::this_coro::executor);
    for (int i = 0; i < kClients; ++i) {
      clients.Spawn("client", [](tcp::socket& s, int i, int& answered) -> Task<void> {
        beast::flat_buffer buffer;
        const std::string target = fmt::format("/?Client={}", i);
        if (!co_await Send(s, Get(target))) co_return;
        auto r = co_await Receive(s, buffer);
        if (r && r->result_int() == 200 && Body(*r)["target"] == target) ++answered;
      }(sockets[i], i, answered));
    }
    co_await clients.Close();
    EXPECT_EQ(answered, kClients);
  }());
}

TEST_F(HttpServerTest, MoreConnectionsThanAllowedAreClosedAtOnce) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  Client([&]() -> Task<void> {
    tcp::socket a = co_await Connect(), b = co_await Connect();
    beast::flat_buffer buffer_a, buffer_b;
    // Both answered, so both are open at the server.
    CO_ASSERT_TRUE(co_await Send(a, Get("/a")));
    CO_ASSERT_TRUE(co_await Receive(a, buffer_a));
    CO_ASSERT_TRUE(co_await Send(b, Get("/b")));
    CO_ASSERT_TRUE(co_await Receive(b, buffer_b));
    tcp::socket c = co_await Connect();
    EXPECT_TRUE(co_await ClosedWithin(c, 5s));
    // Once one closes, a new one is served.
    a.close();
    bool served = false;
    for (int attempt = 0; attempt < 100 && !served; ++attempt) {
      tcp::socket d = co_await Connect();
      beast::flat_buffer buffer;
      if (co_await Send(d, Get("/d"))) served = (co_await Receive(d, buffer)).has_value();
      if (!served) co_await SleepFor(20ms);  // until the server has seen the close
    }
    EXPECT_TRUE(served);
  }());
}

TEST_F(HttpServerTest, BadResponsesOfTheHandlerAreContained) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    // A header value with CR LF in it is dropped, not split into two.
    CO_ASSERT_TRUE(co_await Send(s, Get("/inject")));
    auto injected = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(injected);
    EXPECT_EQ(injected->result_int(), 200);
    EXPECT_EQ(injected->count(http::field::set_cookie), 0u);
    EXPECT_EQ(injected->count("x-bad"), 0u);
    EXPECT_EQ((*injected)["x-echo"], "yes");
    // A status that is no HTTP status becomes 500.
    CO_ASSERT_TRUE(co_await Send(s, Get("/status")));
    auto status = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(status);
    EXPECT_EQ(status->result_int(), 500);
  }());
}

TEST_F(HttpServerTest, HandlerThatThrowsGets500AndTheServerLives) {
  StartServer();
  Client([&]() -> Task<void> {
    tcp::socket s = co_await Connect();
    beast::flat_buffer buffer;
    CO_ASSERT_TRUE(co_await Send(s, Get("/throw")));
    auto r = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(r);
    EXPECT_EQ(r->result_int(), 500);
    EXPECT_EQ(Body(*r)["Code"], "InternalError");
    EXPECT_EQ(r->body().find("exploded"), std::string::npos);  // no internals leak
    // The same connection and new ones are served.
    CO_ASSERT_TRUE(co_await Send(s, Get("/fine")));
    auto same = co_await Receive(s, buffer);
    CO_ASSERT_TRUE(same);
    EXPECT_EQ(same->result_int(), 200);
    tcp::socket other = co_await Connect();
    beast::flat_buffer other_buffer;
    CO_ASSERT_TRUE(co_await Send(other, Get("/other")));
    auto fresh = co_await Receive(other, other_buffer);
    CO_ASSERT_TRUE(fresh);
    EXPECT_EQ(fresh->result_int(), 200);
  }());
}

}  // namespace
}  // namespace tg::testing
