#include "api/http/http_server.h"

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "base/listen.h"
#include "base/log.h"

namespace tg::api {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using BeastRequest = http::request<http::string_body>;
using BeastResponse = http::response<http::string_body>;

auto Log() {
  static auto log = log::Get("http");
  return log;
}

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// After an answer that closes the connection, what the client still sends
// is read and dropped for a moment, so that closing with unread bytes does
// not reset the connection before the client has read the answer.
constexpr Duration kLingerTime = 1s;
constexpr size_t kLingerBytes = 1 << 20;

// Runs `op` until `deadline`; nullopt if the deadline came first (the
// operation is then cancelled).
template <typename T>
Task<std::optional<T>> Until(TimePoint deadline, Task<T> op) {
  const auto left = deadline - Clock::now();
  auto outcome = co_await (std::move(op) || SleepFor(left > Duration::zero() ? left : 0ms));
  if (outcome.index() == 1) co_return std::nullopt;
  co_return std::move(std::get<0>(outcome));
}

// Alibaba's request ids: a random UUID in capitals.
std::string NewRequestId() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const uint64_t a = random(), b = random();
  return fmt::format("{:08X}-{:04X}-{:04X}-{:04X}-{:012X}", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                     b >> 48, b & 0xffffffffffffULL);
}

// The error answers the frontend itself gives (the handler renders its own).
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message,
                           std::string_view host) {
  const std::string request_id = NewRequestId();
  nlohmann::ordered_json body;
  body["RequestId"] = request_id;
  body["HostId"] = host;
  body["Code"] = code;
  body["Message"] = message;
  HttpResponse r;
  r.status = status;
  // Host comes from the client: invalid UTF-8 is replaced, not thrown on.
  r.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  r.headers["x-acs-request-id"] = request_id;
  return r;
}

std::string PeerName(const tcp::socket& socket) {
  ErrorCode ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The target's path, for logs: the query may carry signatures and tokens.
std::string_view PathOf(std::string_view target) {
  return target.substr(0, std::min(target.find('?'), target.size()));
}

// RFC 9110 tokens and field values (no control characters but tab).
bool IsFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127 ||
        std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool IsFieldValue(std::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 32 && c != '\t') || u == 127) return false;
  }
  return true;
}

bool IsParseError(const ErrorCode& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

}  // namespace

struct HttpServer::Tls {
  ssl::context context{ssl::context::tls_server};
};

namespace {

// What one connection needs of its server.
struct ServeContext {
  const HttpServerOptions& options;
  const HttpHandler& handler;
  const bool& stopping;
  std::string peer;
  bool tls = false;
};

// One client connection over `Stream` (a TCP socket, or TLS over one):
// requests are read and answered one after another until either side
// closes, a limit is broken or the server stops.
template <typename Stream>
class Connection {
 public:
  Connection(ServeContext context, Stream& stream, tcp::socket& socket)
      : c_(std::move(context)), stream_(stream), socket_(socket) {}

  // `first_deadline`: when the first request's header must be complete.
  Task<void> Run(TimePoint first_deadline) {
    bool first = true;
    while (!c_.stopping) {
      TimePoint header_deadline = first_deadline;
      if (!first && buffer_.size() == 0) {
        // Keep-alive: wait for the next request's first byte; its header's
        // time starts then.
        auto got = co_await Until(Clock::now() + c_.options.idle_timeout, ReadSome());
        if (!got || got->first || got->second == 0) co_return;  // idle, closed or failed
        header_deadline = Clock::now() + c_.options.header_timeout;
      }
      first = false;
      if (!co_await ServeOne(header_deadline)) co_return;
    }
  }

 private:
  Task<std::pair<ErrorCode, size_t>> ReadSome() {
    auto space = buffer_.prepare(4096);
    auto [ec, n] = co_await stream_.async_read_some(space, kAsTuple);
    buffer_.commit(n);
    co_return std::pair{ec, n};
  }

  // Reads, handles and answers one request. False when the connection
  // must end.
  Task<bool> ServeOne(TimePoint header_deadline) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(
        std::min<size_t>(c_.options.max_header_bytes, std::numeric_limits<uint32_t>::max())));
    parser.body_limit(c_.options.max_body_bytes);

    auto header = co_await Until(header_deadline,
                                 http::async_read_header(stream_, buffer_, parser, kAsTuple));
    if (!header) {
      co_await Fail(408, "RequestTimeout", "The request header was not sent in time.");
      co_return false;
    }
    if (const ErrorCode ec = std::get<0>(*header); ec) {
      if (ec == http::error::header_limit) {
        co_await Fail(431, "RequestHeaderFieldsTooLarge", "The request header is too large.");
      } else if (ec == http::error::body_limit) {
        co_await Fail(413, "RequestEntityTooLarge", "The request body is too large.");
      } else if (IsParseError(ec) && ec != http::error::end_of_stream &&
                 ec != http::error::partial_message) {
        Log()->debug("malformed request peer={} error={}", c_.peer, ec.message());
        co_await Fail(400, "MalformedRequest", "The HTTP request is malformed.");
      }
      co_return false;  // anything else: the client went away
    }
    host_ = std::string(parser.get()[http::field::host]);
    if (const auto length = parser.content_length();
        length && *length > c_.options.max_body_bytes) {
      co_await Fail(413, "RequestEntityTooLarge", "The request body is too large.");
      co_return false;
    }
    if (!parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto sent = co_await Until(Clock::now() + c_.options.body_timeout,
                                   asio::async_write(stream_, asio::buffer(kContinue), kAsTuple));
        if (!sent || std::get<0>(*sent)) co_return false;
      }
      auto body = co_await Until(Clock::now() + c_.options.body_timeout,
                                 http::async_read(stream_, buffer_, parser, kAsTuple));
      if (!body) {
        co_await Fail(408, "RequestTimeout", "The request body was not sent in time.");
        co_return false;
      }
      if (const ErrorCode ec = std::get<0>(*body); ec) {
        if (ec == http::error::body_limit) {
          co_await Fail(413, "RequestEntityTooLarge", "The request body is too large.");
        } else if (IsParseError(ec) && ec != http::error::partial_message) {
          co_await Fail(400, "MalformedRequest", "The HTTP request body is malformed.");
        }
        co_return false;
      }
    }

    BeastRequest request = parser.release();
    const auto started = Clock::now();
    HttpResponse response = co_await Handle(request);
    bool keep_alive = request.keep_alive() && !c_.stopping;
    if (auto it = response.headers.find("connection");
        it != response.headers.end() && beast::iequals(it->second, "close")) {
      keep_alive = false;
    }
    Log()->debug(
        "request peer={} method={} path={} status={} ms={}", c_.peer,
        std::string_view(request.method_string()), PathOf(request.target()), response.status,
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
    if (!co_await Send(std::move(response), request.version(), keep_alive)) co_return false;
    if (!keep_alive) co_await Linger();
    co_return keep_alive;
  }

  Task<HttpResponse> Handle(BeastRequest& in) {
    const std::string_view method = in.method_string();
    if (method != "GET" && method != "POST") {
      co_return ErrorResponse(405, "UnsupportedHTTPMethod",
                              fmt::format("The HTTP method {} is not supported.",
                                          method.substr(0, std::min<size_t>(method.size(), 16))),
                              host_);
    }
    HttpRequest request;
    request.method = std::string(method);
    request.target = std::string(in.target());
    for (const auto& field : in) {
      std::string name = Lower(field.name_string());
      auto [it, added] = request.headers.emplace(std::move(name), std::string(field.value()));
      if (!added) {  // a repeated field: its values joined, as RFC 9110 allows
        it->second += ", ";
        it->second += field.value();
      }
    }
    request.body = std::move(in.body());
    request.peer = c_.peer;
    request.tls = c_.tls;
    std::optional<HttpResponse> response;
    std::string failure;
    try {
      response = co_await c_.handler(std::move(request));
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (!response) {
      // Stop() cancels handlers in flight: that is no failure worth an error.
      if (c_.stopping)
        co_return ErrorResponse(503, "ServiceUnavailable", "The server is stopping.", host_);
      Log()->error("handler failed peer={} path={} error={}", c_.peer, PathOf(in.target()),
                   failure);
      co_return ErrorResponse(500, "InternalError",
                              "The request processing has failed due to some unknown error.",
                              host_);
    }
    co_return std::move(*response);
  }

  Task<bool> Send(HttpResponse in, unsigned version, bool keep_alive) {
    if (in.status < 100 || in.status > 599) {  // Beast throws on such codes
      Log()->error("handler answered an invalid status={}", in.status);
      in = ErrorResponse(500, "InternalError",
                         "The request processing has failed due to some unknown error.", host_);
    }
    BeastResponse out;
    out.version(version == 10 ? 10 : 11);
    out.result(static_cast<unsigned>(in.status));
    out.set(http::field::content_type, in.content_type);
    for (const auto& [name, value] : in.headers) {
      if (beast::iequals(name, "connection") || beast::iequals(name, "content-length") ||
          beast::iequals(name, "transfer-encoding")) {
        continue;  // the framing is the server's own
      }
      if (!IsFieldName(name) || !IsFieldValue(value)) {
        Log()->warn("dropped a response header that is not valid HTTP name={}", name.substr(0, 64));
        continue;  // a CR or LF would let a value write headers of its own
      }
      out.set(name, value);
    }
    out.body() = std::move(in.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    auto sent = co_await Until(Clock::now() + c_.options.body_timeout,
                               http::async_write(stream_, out, kAsTuple));
    co_return sent && !std::get<0>(*sent);
  }

  // Answers with an error and closes.
  Task<void> Fail(int status, std::string_view code, std::string_view message) {
    auto response = ErrorResponse(status, code, message, host_);
    if (co_await Send(std::move(response), 11, false)) co_await Linger();
  }

  // Half-closes and drops what the client still sends, for a moment.
  Task<void> Linger() {
    ErrorCode ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    const auto deadline = Clock::now() + kLingerTime;
    std::vector<char> sink(16 << 10);
    size_t dropped = 0;
    while (dropped < kLingerBytes) {
      auto got = co_await Until(deadline, socket_.async_read_some(asio::buffer(sink), kAsTuple));
      if (!got || std::get<0>(*got)) co_return;
      dropped += std::get<1>(*got);
    }
  }

  ServeContext c_;
  Stream& stream_;
  tcp::socket& socket_;  // the TCP socket under stream_
  beast::flat_buffer buffer_;
  std::string host_;  // the request's Host, for error bodies
};

}  // namespace

Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& listen) {
  std::string host;
  std::string_view port_text;
  if (!listen.empty() && listen[0] == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return InvalidArgument("http: bad listen address '{}' (want [v6]:port)", listen);
    }
    host = listen.substr(1, close - 1);
    port_text = std::string_view(listen).substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos || listen.find(':') != colon) {
      return InvalidArgument("http: bad listen address '{}' (want host:port)", listen);
    }
    host = listen.substr(0, colon);
    port_text = std::string_view(listen).substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, err] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (host.empty() || port_text.empty() || err != std::errc() ||
      end != port_text.data() + port_text.size() || port > 65535) {
    return InvalidArgument("http: bad listen address '{}' (want host:port)", listen);
  }
  return std::pair{host, static_cast<uint16_t>(port)};
}

HttpServer::HttpServer(Executor ex, HttpServerOptions options, HttpHandler handler)
    : ex_(ex), options_(std::move(options)), handler_(std::move(handler)), tasks_(ex) {}

HttpServer::~HttpServer() = default;

bool HttpServer::tls() const {
  return tls_ != nullptr;
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(Executor ex, HttpServerOptions options,
                                                       HttpHandler handler) {
  if (!handler) return InvalidArgument("http: no handler");
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidArgument("http: a TLS certificate needs its key and a key its certificate");
  }
  if (options.max_header_bytes == 0 || options.max_connections == 0 ||
      options.header_timeout <= Duration::zero() || options.body_timeout <= Duration::zero() ||
      options.idle_timeout <= Duration::zero()) {
    return InvalidArgument("http: limits and timeouts must be positive");
  }
  TG_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(options.listen));
  std::unique_ptr<HttpServer> server(new HttpServer(ex, std::move(options), std::move(handler)));
  const HttpServerOptions& o = server->options_;
  if (!o.tls_cert.empty()) {
    auto tls = std::make_unique<Tls>();
    ErrorCode ec;
    SSL_CTX_set_min_proto_version(tls->context.native_handle(), TLS1_2_VERSION);
    tls->context.set_options(ssl::context::default_workarounds | ssl::context::single_dh_use);
    tls->context.use_certificate_chain_file(o.tls_cert, ec);
    if (ec) return InvalidArgument("http: TLS certificate {}: {}", o.tls_cert, ec.message());
    tls->context.use_private_key_file(o.tls_key, ssl::context::pem, ec);
    if (ec) return InvalidArgument("http: TLS key {}: {}", o.tls_key, ec.message());
    if (SSL_CTX_check_private_key(tls->context.native_handle()) != 1) {
      return InvalidArgument("http: TLS key {} does not match certificate {}", o.tls_key,
                             o.tls_cert);
    }
    server->tls_ = std::move(tls);
  }
  TG_ASSIGN_OR_RETURN(server->acceptor_, ListenTcp(ex, "http", host_port.first, host_port.second));
  server->port_ = server->acceptor_->local_endpoint().port();
  Log()->info("listening address={} port={} tls={}", host_port.first, server->port_, server->tls());
  return server;
}

Task<void> HttpServer::Accept() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_->async_accept(kAsTuple);
    if (stopping_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      // Out of descriptors and the like: the next accept may succeed.
      Log()->warn("accept failed error={}", ec.message());
      co_await SleepFor(100ms);
      continue;
    }
    if (active_ >= options_.max_connections) {
      ++connections_refused_;
      Log()->debug("connection refused: too many open={}", active_);
      socket.close(ec);
      continue;
    }
    // Counted here, not when Serve starts: the next accept may come first.
    ++active_;
    if (!tasks_.Spawn("http connection", Serve(std::move(socket)))) --active_;
  }
}

Task<void> HttpServer::Serve(tcp::socket socket) {
  ErrorCode ec;
  if (stopping_) {  // spawned just before Stop(): it did not see this socket
    --active_;
    socket.close(ec);
    co_return;
  }
  const uint64_t id = next_connection_++;
  open_[id] = &socket;
  // Unregistered however the coroutine ends, even by an exception: Stop()
  // must never close a socket that is gone.
  struct Unregister {
    HttpServer& server;
    uint64_t id;
    ~Unregister() {
      server.open_.erase(id);
      --server.active_;
    }
  } unregister{*this, id};
  const TimePoint header_deadline = Clock::now() + options_.header_timeout;
  socket.set_option(tcp::no_delay(true), ec);
  ServeContext context{options_, handler_, stopping_, PeerName(socket), tls_ != nullptr};
  if (tls_) {
    ssl::stream<tcp::socket&> stream(socket, tls_->context);
    auto shook =
        co_await Until(header_deadline, stream.async_handshake(ssl::stream_base::server, kAsTuple));
    if (shook && !std::get<0>(*shook)) {
      Connection<ssl::stream<tcp::socket&>> connection(std::move(context), stream, socket);
      co_await connection.Run(header_deadline);
    } else {
      Log()->debug("TLS handshake failed peer={}", context.peer);
    }
  } else {
    Connection<tcp::socket> connection(std::move(context), socket, socket);
    co_await connection.Run(header_deadline);
  }
  socket.close(ec);
}

Task<void> HttpServer::Run() {
  tasks_.Spawn("http accept", Accept());
  co_await tasks_.Join();
}

Task<void> HttpServer::Stop() {
  stopping_ = true;
  ErrorCode ec;
  if (acceptor_) acceptor_->close(ec);
  for (auto& [id, socket] : open_) socket->close(ec);
  tasks_.CancelAll();
  co_await tasks_.Close();
}

}  // namespace tg::api
