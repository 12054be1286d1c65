// The API's HTTP/1.1 frontend (HTTP/1.0 too), plain or over TLS: it reads
// requests with Beast, hands each one to the handler as an HttpRequest and
// writes its HttpResponse back. Connections are kept alive unless the
// client (or the response's "connection: close") asks otherwise.
//
// The clients are untrusted, so the server bounds what one may hold: the
// header's size (431), the body's size (413), the time to send a header
// (408) or a body (408), the time a kept-alive connection may sit idle, and
// the number of connections open at once (more are closed on accept).
// A malformed request gets 400; a method other than GET or POST gets 405;
// a handler that throws gets 500 InternalError. Each of those answers
// carries Alibaba's error body {RequestId, HostId, Code, Message}, and all
// but 405 and 500 close the connection. Request bodies and Authorization
// headers are never logged.
//
// Lifecycle (the project's other servers' shape, see nbd::Server): Create()
// binds the address and loads the certificate, Run() serves until Stop(),
// Stop() stops accepting, closes every connection (cancelling handlers in
// flight) and waits for them. Stop() must have completed before the server
// is destroyed.
// Thread-safety: belongs to one executor (a single-threaded event loop).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "api/core/request.h"
#include "base/async.h"
#include "base/status.h"

namespace tg::api {

struct HttpServerOptions {
  // HOST:PORT or [V6]:PORT; port 0 picks a free port (see port()).
  std::string listen = "127.0.0.1:8080";
  // PEM files: both set serves HTTPS, neither HTTP; one alone is an error.
  std::string tls_cert, tls_key;
  size_t max_header_bytes = 16 * 1024;      // request line and fields; beyond: 431
  size_t max_body_bytes = 4 * 1024 * 1024;  // beyond: 413
  Duration header_timeout = 10s;            // from the first byte (or accept) to a full header
  Duration body_timeout = 30s;    // from the header to a full body; also a response's write
  Duration idle_timeout = 60s;    // a kept-alive connection waiting for its next request
  size_t max_connections = 1024;  // beyond: accepted and closed at once
};

using HttpHandler = std::function<Task<HttpResponse>(HttpRequest)>;

class HttpServer {
 public:
  // Binds `options.listen` and, for HTTPS, loads the certificate and key.
  // InvalidArgument for bad options and for a certificate or key that
  // cannot be read or do not match; Unavailable if the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Create(Executor ex, HttpServerOptions options,
                                                    HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const { return port_; }  // the bound port
  bool tls() const;

  // Serves until Stop().
  Task<void> Run();
  // Stops accepting, closes every connection, waits for their coroutines.
  Task<void> Stop();

  size_t connections_open() const { return active_; }
  size_t connections_refused() const { return connections_refused_; }  // over max_connections

 private:
  struct Tls;
  HttpServer(Executor ex, HttpServerOptions options, HttpHandler handler);
  Task<void> Accept();
  Task<void> Serve(asio::ip::tcp::socket socket);

  Executor ex_;
  HttpServerOptions options_;
  HttpHandler handler_;
  std::unique_ptr<Tls> tls_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  TaskGroup tasks_;
  std::map<uint64_t, asio::ip::tcp::socket*> open_;  // by connection number, for Stop()
  uint64_t next_connection_ = 0;
  size_t active_ = 0;  // connections spawned and not yet ended
  size_t connections_refused_ = 0;
  bool stopping_ = false;
};

// Splits "host:port" or "[v6]:port" (port 0..65535). InvalidArgument if malformed.
Result<std::pair<std::string, uint16_t>> SplitHostPort(const std::string& listen);

}  // namespace tg::api
