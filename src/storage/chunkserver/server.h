// The chunkserver's data port: serves the chunk protocol
// (storage/common/protocol.h) on TCP from a ChunkStore. Each connection has a
// reader, one coroutine per request (at most kMaxInFlight) and one writer of
// replies. A stream that cannot be trusted (bad magic, header checksum,
// oversized payload, truncation) closes that connection; the server and its
// other connections carry on.
// Thread-safety: belongs to one executor.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/async.h"
#include "base/stream.h"
#include "storage/chunkserver/chunk_store.h"

namespace tg::storage {

class ChunkServer {
 public:
  ChunkServer(Executor ex, ChunkStore& store);
  ~ChunkServer();

  // host: an address to bind ("127.0.0.1", "0.0.0.0"); port 0 picks a free one.
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }

  Task<void> Run();
  Task<void> Stop();

  // A chunkserver whose registration lapsed may hold chunks that moved on
  // without it: until it has registered again (and dropped those), it
  // answers every data request with an I/O error, so clients go elsewhere.
  void SetServing(bool serving) { serving_ = serving; }
  bool serving() const { return serving_; }

  size_t protocol_errors() const { return protocol_errors_; }
  size_t requests_served() const { return requests_served_; }

 private:
  class Connection;
  Task<void> Accept();
  Task<void> Serve(StreamSocket socket);

  Executor ex_;
  ChunkStore& store_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  TaskGroup tasks_;
  std::map<uint64_t, StreamSocket*> open_;
  uint64_t next_connection_ = 0;
  bool stopping_ = false;
  bool serving_ = true;
  size_t protocol_errors_ = 0;
  size_t requests_served_ = 0;
};

}  // namespace tg::storage
