// One TCP connection to a chunkserver's data port, shared by any number of
// coroutines: requests are pipelined and matched to replies by request id.
// If the connection breaks, every waiting request fails with Unavailable and
// the client stays broken (callers reconnect with a new one).
// Thread-safety: belongs to one executor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/stream.h"
#include "storage/common/protocol.h"

namespace tg::storage {

// A write's payload as it goes out: bytes that no longer change and their
// CRC32C, computed once however many replicas the bytes are sent to.
struct StablePayload {
  SharedBytes bytes;
  uint32_t crc = 0;

  static StablePayload Of(SharedBytes bytes);
};

class ChunkClient {
 public:
  // address: "HOST:PORT" (IPv4 or [IPv6]). A connect or a request that
  // takes longer than `timeout` fails with Unavailable (and a request that
  // times out breaks the connection: the stream cannot be trusted after it).
  static Task<Result<std::unique_ptr<ChunkClient>>> Connect(Executor ex, std::string address,
                                                            Duration timeout = 10s);
  ~ChunkClient();

  const std::string& address() const { return address_; }
  bool broken() const { return broken_; }

  // The payload is sent as it is (shared, not copied).
  Task<Status> Write(uint64_t chunk_id, Stamp stamp, uint32_t offset, StablePayload payload);
  // Copies `data` before returning, then sends the copy.
  Task<Status> Write(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                     std::span<const uint8_t> data);
  // Writes only blocks the replica has never had (recovery copies).
  Task<Status> Fill(uint64_t chunk_id, Stamp stamp, uint32_t offset, StablePayload payload);
  Task<Status> Fill(uint64_t chunk_id, Stamp stamp, uint32_t offset, std::span<const uint8_t> data);
  Task<Status> Read(uint64_t chunk_id, Stamp stamp, uint32_t offset, std::span<uint8_t> out);
  // The same, into a buffer of its own that nobody else can change.
  Task<Result<AlignedBuffer>> ReadBuffer(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                                         uint32_t length);
  Task<Status> SetVersion(uint64_t chunk_id, uint32_t version);
  Task<Status> Fence(uint64_t volume, uint64_t epoch);
  Task<Result<std::vector<uint32_t>>> BlockCrcs(uint64_t chunk_id);
  Task<Status> Delete(uint64_t chunk_id);
  Task<Status> Ping();

  // Closes the connection; waiting requests fail. Then waits for the reader.
  Task<void> Close();

 private:
  struct Pending;
  ChunkClient(Executor ex, StreamSocket socket, std::string address, Duration timeout);
  // Sends one request (with `payload`, if any) and waits for its reply;
  // `reply` receives the reply's payload.
  Task<Status> Call(Header h, const StablePayload* payload, AlignedBuffer* reply);
  Task<void> ReadReplies();
  void Fail(const Status& why);

  Executor ex_;
  StreamSocket socket_;
  std::string address_;
  Duration timeout_;
  BufferedReader reader_;
  MessageWriter writer_;
  TaskGroup tasks_;
  std::map<uint64_t, Pending*> pending_;
  uint64_t next_id_ = 1;
  bool broken_ = false;
  Status broken_why_;
};

}  // namespace tg::storage
