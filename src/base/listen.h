// Listening sockets for the servers (the NBD export, the chunk data port,
// vhost-user): one way to bind and to accept, so every server refuses a bad
// address alike and hands its connections on as generic stream sockets.
// Thread-safety: acceptors belong to the executor they were made on.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/async.h"
#include "base/status.h"
#include "base/stream.h"

namespace tg {

using TcpAcceptor = asio::ip::tcp::acceptor;
using UnixAcceptor = asio::local::stream_protocol::acceptor;

// Binds HOST:PORT (port 0: any free port) with SO_REUSEADDR. `what` names the
// server in errors ("nbd: listen on 127.0.0.1:10809: ...").
Result<std::unique_ptr<TcpAcceptor>> ListenTcp(Executor ex, std::string_view what,
                                               const std::string& host, uint16_t port);
// Binds a Unix socket at `path`, replacing a stale one left there.
Result<std::unique_ptr<UnixAcceptor>> ListenUnix(
    Executor ex, std::string_view what, const std::string& path,
    int backlog = asio::socket_base::max_listen_connections);

// The next connection, as a generic stream socket (TCP ones with Nagle off),
// or an error once the acceptor was closed.
Task<Result<StreamSocket>> AcceptStream(TcpAcceptor& acceptor);
Task<Result<StreamSocket>> AcceptStream(UnixAcceptor& acceptor);

}  // namespace tg
