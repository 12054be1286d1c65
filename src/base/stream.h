// Framed request/reply streams: what the NBD server and the chunk data path
// share. A reader that serves many small messages from one read system call,
// and a writer that sends every queued message in one gather write.
// Thread-safety: each object belongs to one executor.
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "base/async.h"
#include "base/status.h"

namespace tg {

using StreamSocket = asio::generic::stream_protocol::socket;

// Payloads and read data, 4 KiB-aligned so that a file volume or a chunk
// file can hand them to O_DIRECT as they are.
struct AlignedBuffer {
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data;
  size_t size = 0;

  static AlignedBuffer Make(size_t n);
  std::span<uint8_t> span() { return {data.get(), size}; }
  std::span<const uint8_t> span() const { return {data.get(), size}; }
};

// Reads exact byte counts from a stream through a 256 KiB buffer: a peer at
// queue depth 32 sends messages in bursts, and one read then serves many.
// Large payloads bypass the buffer.
class BufferedReader {
 public:
  // `who` names the stream in errors ("nbd", "chunk data").
  BufferedReader(StreamSocket& socket, std::string_view who) : socket_(socket), who_(who) {}

  // Fills `into`; Cancelled if the peer closed the stream before the first
  // byte of a message, Unavailable on any other failure.
  Task<Status> Receive(std::span<uint8_t> into);

 private:
  static constexpr size_t kDirectReceive = 64 << 10;
  StreamSocket& socket_;
  std::string_view who_;
  std::vector<uint8_t> in_ = std::vector<uint8_t>(256 << 10);
  size_t start_ = 0, end_ = 0;
};

// Bytes that no longer change, shared by every message that sends them: a
// volume write's data goes to each replica from one copy.
class SharedBytes {
 public:
  SharedBytes() = default;
  // Takes the buffer (implicit: a reply's data becomes a payload as it is).
  SharedBytes(AlignedBuffer&& buffer);
  // A copy made now: later changes to `bytes` do not show in it.
  static SharedBytes CopyOf(std::span<const uint8_t> bytes);
  SharedBytes(const SharedBytes&) = default;
  SharedBytes& operator=(const SharedBytes&) = default;
  // A moved-from one is empty, not a view of a buffer it no longer holds.
  SharedBytes(SharedBytes&& o) noexcept
      : owner_(std::move(o.owner_)), bytes_(std::exchange(o.bytes_, {})) {}
  SharedBytes& operator=(SharedBytes&& o) noexcept {
    owner_ = std::move(o.owner_);
    bytes_ = std::exchange(o.bytes_, {});
    return *this;
  }

  std::span<const uint8_t> span() const { return bytes_; }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  // `n` bytes from `offset`, sharing this buffer. REQUIRES: within size().
  SharedBytes Slice(size_t offset, size_t n) const;

 private:
  std::shared_ptr<const AlignedBuffer> owner_;
  std::span<const uint8_t> bytes_;
};

// One message out: a header and, optionally, a payload.
struct OutMessage {
  std::vector<uint8_t> header;
  SharedBytes payload;
};

// Queues messages from any number of coroutines; Run() sends them in order,
// gathering whatever is queued into one write. A failed write closes the
// socket (the reader then notices) and drops the rest.
class MessageWriter {
 public:
  MessageWriter(Executor ex, StreamSocket& socket) : socket_(socket), queue_(ex) {}

  void Send(OutMessage m) {
    if (!queue_.closed()) queue_.Push(std::move(m));
  }
  // Until Close() and the queue is empty, or a write fails.
  Task<void> Run();
  void Close() { queue_.Close(); }

 private:
  StreamSocket& socket_;
  AsyncQueue<OutMessage> queue_;
};

}  // namespace tg
