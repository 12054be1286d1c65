#include "base/listen.h"

#include <unistd.h>

namespace tg {

Result<std::unique_ptr<TcpAcceptor>> ListenTcp(Executor ex, std::string_view what,
                                               const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("{}: bad listen address '{}'", what, host);
  asio::ip::tcp::endpoint ep(address, port);
  auto a = std::make_unique<TcpAcceptor>(ex);
  a->open(ep.protocol(), ec);
  if (!ec) a->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a->bind(ep, ec);
  if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("{}: listen on {}:{}: {}", what, host, port, ec.message());
  return a;
}

Result<std::unique_ptr<UnixAcceptor>> ListenUnix(Executor ex, std::string_view what,
                                                 const std::string& path, int backlog) {
  ::unlink(path.c_str());
  boost::system::error_code ec;
  auto a = std::make_unique<UnixAcceptor>(ex);
  a->open(asio::local::stream_protocol(), ec);
  if (!ec) a->bind(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) a->listen(backlog, ec);
  if (ec) return Unavailable("{}: listen on {}: {}", what, path, ec.message());
  return a;
}

Task<Result<StreamSocket>> AcceptStream(TcpAcceptor& acceptor) {
  boost::system::error_code ec;
  auto s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Unavailable("accept: {}", ec.message());
  s.set_option(asio::ip::tcp::no_delay(true), ec);
  const int family = s.local_endpoint(ec).protocol().family();
  co_return StreamSocket(acceptor.get_executor(),
                         asio::generic::stream_protocol(family, IPPROTO_TCP), s.release());
}

Task<Result<StreamSocket>> AcceptStream(UnixAcceptor& acceptor) {
  boost::system::error_code ec;
  auto s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Unavailable("accept: {}", ec.message());
  co_return StreamSocket(acceptor.get_executor(), asio::generic::stream_protocol(AF_UNIX, 0),
                         s.release());
}

}  // namespace tg
