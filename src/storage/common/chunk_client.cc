#include "storage/common/chunk_client.h"

#include "base/config.h"
#include "storage/common/crc32c.h"

namespace tg::storage {

// A request waiting for its reply.
struct ChunkClient::Pending {
  explicit Pending(Executor ex) : done(ex) {}
  Event done;
  Status status;
  AlignedBuffer* reply = nullptr;  // where the payload goes, if any
};

ChunkClient::ChunkClient(Executor ex, StreamSocket socket, std::string address, Duration timeout)
    : ex_(ex),
      socket_(std::move(socket)),
      address_(std::move(address)),
      timeout_(timeout),
      reader_(socket_, "chunk data"),
      writer_(ex, socket_),
      tasks_(ex) {}

ChunkClient::~ChunkClient() = default;

Task<Result<std::unique_ptr<ChunkClient>>> ChunkClient::Connect(Executor ex, std::string address,
                                                                Duration timeout) {
  TG_CO_ASSIGN_OR_RETURN(auto hp, ParseHostPort(address));
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(hp.first, ec);
  if (ec) co_return InvalidArgument("chunkserver address '{}': bad host", address);
  asio::ip::tcp::socket s(ex);
  // A host that is cut off answers nothing: give up after `timeout`.
  auto connected =
      co_await (s.async_connect({ip, hp.second}, asio::redirect_error(asio::use_awaitable, ec)) ||
                SleepFor(timeout));
  if (connected.index() == 1) {
    co_return Unavailable("connect to chunkserver {}: no answer in {} ms", address,
                          std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  }
  if (ec) co_return Unavailable("connect to chunkserver {}: {}", address, ec.message());
  s.set_option(asio::ip::tcp::no_delay(true), ec);
  const int family = ip.is_v4() ? AF_INET : AF_INET6;
  StreamSocket generic(ex, asio::generic::stream_protocol(family, IPPROTO_TCP), s.release());
  std::unique_ptr<ChunkClient> c(new ChunkClient(ex, std::move(generic), address, timeout));
  c->tasks_.Spawn("chunk client writer", c->writer_.Run());
  c->tasks_.Spawn("chunk client reader", c->ReadReplies());
  co_return c;
}

void ChunkClient::Fail(const Status& why) {
  if (!broken_) {
    broken_ = true;
    broken_why_ = why;
  }
  boost::system::error_code ec;
  socket_.close(ec);
  writer_.Close();
  for (auto& [id, p] : pending_) {
    p->status = broken_why_;
    p->done.Set();
  }
  pending_.clear();
}

Task<void> ChunkClient::ReadReplies() {
  for (;;) {
    std::array<uint8_t, kHeaderSize> bytes;
    Status s = co_await reader_.Receive(bytes);
    if (!s.ok()) {
      Fail(Unavailable("chunkserver {}: {}", address_, s.message()));
      co_return;
    }
    auto h = ParseHeader(bytes);
    if (!h.ok() || !h->reply) {
      Fail(Unavailable("chunkserver {} broke the protocol: {}", address_,
                       h.ok() ? "a request where a reply was expected" : h.status().message()));
      co_return;
    }
    auto it = pending_.find(h->request_id);
    AlignedBuffer payload;
    const bool has_payload = h->op == Op::kRead || h->op == Op::kBlockCrcs;
    if (has_payload && h->length) {
      payload = AlignedBuffer::Make(h->length);
      if (Status r = co_await reader_.Receive(payload.span()); !r.ok()) {
        Fail(Unavailable("chunkserver {}: {}", address_, r.message()));
        co_return;
      }
      if (Crc32c(payload.span()) != h->payload_crc) {
        Fail(Unavailable("chunkserver {}: reply payload fails its checksum", address_));
        co_return;
      }
    }
    if (it == pending_.end()) continue;  // nobody waits any more
    Pending* p = it->second;
    pending_.erase(it);
    p->status = ToStatus(h->status, fmt::format("chunkserver {}: {} chunk {:016x}", address_,
                                                OpName(h->op), h->chunk_id));
    if (p->reply) *p->reply = std::move(payload);
    p->done.Set();
  }
}

StablePayload StablePayload::Of(SharedBytes bytes) {
  const uint32_t crc = Crc32c(bytes.span());
  return {std::move(bytes), crc};
}

Task<Status> ChunkClient::Call(Header h, const StablePayload* payload, AlignedBuffer* reply) {
  if (broken_) co_return broken_why_;
  Pending p(ex_);
  p.reply = reply;
  h.request_id = next_id_++;
  if (payload && !payload->bytes.empty()) {
    h.length = static_cast<uint32_t>(payload->bytes.size());
    h.payload_crc = payload->crc;
  }
  auto bytes = EncodeHeader(h);
  pending_[h.request_id] = &p;
  writer_.Send(OutMessage{std::vector<uint8_t>(bytes.begin(), bytes.end()),
                          payload ? payload->bytes : SharedBytes()});
  co_await (p.done.Wait() || SleepFor(timeout_));
  if (!p.done.is_set()) {
    pending_.erase(h.request_id);
    if (co_await IsCancelled()) co_return Cancelled("chunk request cancelled");
    Fail(Unavailable("chunkserver {}: no reply in {} ms", address_,
                     std::chrono::duration_cast<std::chrono::milliseconds>(timeout_).count()));
    co_return broken_why_;
  }
  co_return p.status;
}

namespace {
Header DataHeader(Op op, uint64_t chunk_id, Stamp stamp, uint32_t offset) {
  Header h;
  h.op = op;
  h.chunk_id = chunk_id;
  h.epoch = stamp.epoch;
  h.chunk_version = stamp.version;
  h.offset = offset;
  return h;
}
}  // namespace

Task<Status> ChunkClient::Write(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                                StablePayload payload) {
  co_return co_await Call(DataHeader(Op::kWrite, chunk_id, stamp, offset), &payload, nullptr);
}

Task<Status> ChunkClient::Write(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                                std::span<const uint8_t> data) {
  // Not a coroutine: the copy is made now, while the caller's bytes are known to be valid.
  return Write(chunk_id, stamp, offset, StablePayload::Of(SharedBytes::CopyOf(data)));
}

Task<Status> ChunkClient::Fill(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                               StablePayload payload) {
  co_return co_await Call(DataHeader(Op::kFill, chunk_id, stamp, offset), &payload, nullptr);
}

Task<Status> ChunkClient::Fill(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                               std::span<const uint8_t> data) {
  return Fill(chunk_id, stamp, offset, StablePayload::Of(SharedBytes::CopyOf(data)));
}

Task<Result<AlignedBuffer>> ChunkClient::ReadBuffer(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                                                    uint32_t length) {
  Header h = DataHeader(Op::kRead, chunk_id, stamp, offset);
  h.length = length;
  AlignedBuffer reply;
  TG_CO_RETURN_IF_ERROR(co_await Call(h, nullptr, &reply));
  if (reply.size != length) {
    co_return Status(
        ErrorCode::kIoError,
        fmt::format("chunkserver {}: read returned {} of {} bytes", address_, reply.size, length));
  }
  co_return reply;
}

Task<Status> ChunkClient::Read(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                               std::span<uint8_t> out) {
  TG_CO_ASSIGN_OR_RETURN(
      AlignedBuffer reply,
      co_await ReadBuffer(chunk_id, stamp, offset, static_cast<uint32_t>(out.size())));
  std::memcpy(out.data(), reply.data.get(), out.size());
  co_return Status::Ok();
}

Task<Status> ChunkClient::SetVersion(uint64_t chunk_id, uint32_t version) {
  co_return co_await Call(DataHeader(Op::kSetVersion, chunk_id, Stamp{0, version}, 0), nullptr,
                          nullptr);
}

Task<Status> ChunkClient::Fence(uint64_t volume, uint64_t epoch) {
  Header h;
  h.op = Op::kFence;
  h.chunk_id = MakeChunkId(volume, 0);
  h.epoch = epoch;
  co_return co_await Call(h, nullptr, nullptr);
}

Task<Result<std::vector<uint32_t>>> ChunkClient::BlockCrcs(uint64_t chunk_id) {
  Header h;
  h.op = Op::kBlockCrcs;
  h.chunk_id = chunk_id;
  AlignedBuffer reply;
  TG_CO_RETURN_IF_ERROR(co_await Call(h, nullptr, &reply));
  if (reply.size != kBlocksPerChunk * sizeof(uint32_t)) {
    co_return Status(ErrorCode::kIoError, "chunkserver " + address_ + ": bad checksum list");
  }
  std::vector<uint32_t> crcs(kBlocksPerChunk);
  std::memcpy(crcs.data(), reply.data.get(), reply.size);
  co_return crcs;
}

Task<Status> ChunkClient::Delete(uint64_t chunk_id) {
  Header h;
  h.op = Op::kDelete;
  h.chunk_id = chunk_id;
  co_return co_await Call(h, nullptr, nullptr);
}

Task<Status> ChunkClient::Ping() {
  Header h;
  h.op = Op::kPing;
  co_return co_await Call(h, nullptr, nullptr);
}

Task<void> ChunkClient::Close() {
  Fail(Cancelled("chunk client closed"));
  co_await tasks_.Close();
}

}  // namespace tg::storage
