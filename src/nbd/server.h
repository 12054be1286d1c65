// An NBD server exporting Volumes, on a Unix socket and/or TCP (loopback by
// default): fixed newstyle handshake (NBD_OPT_GO/INFO/LIST/EXPORT_NAME/ABORT),
// simple replies, READ/WRITE/FLUSH/TRIM/WRITE_ZEROES/DISC with FUA, and
// pipelined requests on each connection. qemu-img, nbdcopy, nbdinfo and fio's
// nbd engine connect to it.
//
// A client that breaks the protocol (bad magic, oversized payload, truncated
// message) loses its connection; the server and its other clients carry on.
// A client that pipelines more write payload than a connection may hold is
// not read from until enough of its writes have finished.
// Thread-safety: belongs to one executor.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/async.h"
#include "base/stream.h"
#include "volume/volume.h"

namespace tg::nbd {

struct Export {
  std::string name;
  volume::Volume* volume = nullptr;  // not owned; outlives the server
  bool read_only = false;
  std::string description;
};

struct ServerOptions {
  // Write payload one connection may hold in requests not yet finished (a
  // single write larger than this is taken alone).
  size_t max_write_bytes_in_flight = 64 << 20;
};

class Server {
 public:
  explicit Server(Executor ex, ServerOptions options = {});
  ~Server();

  Status AddExport(Export e);
  // Starts listening; call either or both before Run().
  Status ListenUnix(const std::string& path);
  Status ListenTcp(const std::string& host, uint16_t port);  // port 0: any free
  uint16_t tcp_port() const { return tcp_port_; }

  // Serves until Stop().
  Task<void> Run();
  // Stops accepting, closes every connection, waits for their handlers.
  Task<void> Stop();

  size_t connections_served() const { return connections_served_; }
  size_t protocol_errors() const { return protocol_errors_; }
  // How often a connection's reader stopped because its writes in flight
  // held as much payload as allowed.
  size_t payload_waits() const { return payload_waits_; }

 private:
  class Connection;
  using Socket = StreamSocket;
  template <typename Acceptor>
  Task<void> Accept(Acceptor& acceptor);
  Task<void> Serve(Socket socket);

  Executor ex_;
  ServerOptions options_;
  std::map<std::string, Export> exports_;
  std::unique_ptr<asio::local::stream_protocol::acceptor> unix_;
  std::unique_ptr<asio::ip::tcp::acceptor> tcp_;
  std::string unix_path_;
  uint16_t tcp_port_ = 0;
  TaskGroup tasks_;
  std::map<uint64_t, Socket*> open_;
  uint64_t next_connection_ = 0;
  size_t connections_served_ = 0;
  size_t protocol_errors_ = 0;
  size_t payload_waits_ = 0;
  bool stopping_ = false;
};

}  // namespace tg::nbd
