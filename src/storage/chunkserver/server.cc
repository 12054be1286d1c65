#include "storage/chunkserver/server.h"

#include "base/listen.h"
#include "base/log.h"
#include "storage/common/crc32c.h"
#include "storage/common/protocol.h"

namespace tg::storage {

namespace {

auto Log() {
  static auto log = log::Get("chunkserver");
  return log;
}

WireStatus ToWire(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk:
      return WireStatus::kOk;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kOutOfRange:
      return WireStatus::kBadRequest;
    case ErrorCode::kFailedPrecondition:
      return WireStatus::kStaleEpoch;
    case ErrorCode::kAborted:
      return WireStatus::kStaleVersion;
    case ErrorCode::kDataLoss:
      return WireStatus::kCorrupt;
    case ErrorCode::kResourceExhausted:
      return WireStatus::kNoSpace;
    default:
      return WireStatus::kIoError;
  }
}

constexpr size_t kMaxInFlight = 64;

}  // namespace

class ChunkServer::Connection {
 public:
  Connection(ChunkServer& server, StreamSocket& socket)
      : server_(server),
        reader_(socket, "chunk data"),
        writer_(server.ex_, socket),
        slot_freed_(server.ex_),
        handlers_(server.ex_),
        writer_task_(server.ex_) {}

  // Until the peer closes or breaks the protocol (then an error).
  Task<Status> Run() {
    writer_task_.Spawn("chunk replies", writer_.Run());
    Status result = co_await ReadRequests();
    co_await handlers_.Join();
    writer_.Close();
    co_await writer_task_.Join();
    co_return result;
  }

 private:
  Task<Status> ReadRequests() {
    for (;;) {
      std::array<uint8_t, kHeaderSize> bytes;
      if (Status s = co_await reader_.Receive(bytes); !s.ok()) {
        co_return s.code() == ErrorCode::kCancelled ? Status::Ok() : s;
      }
      TG_CO_ASSIGN_OR_RETURN(Header h, ParseHeader(bytes));
      AlignedBuffer payload;
      const bool carries_payload = (h.op == Op::kWrite || h.op == Op::kFill) && !h.reply;
      if (carries_payload) {  // ParseHeader bounded the length
        payload = AlignedBuffer::Make(h.length);
        TG_CO_RETURN_IF_ERROR(co_await reader_.Receive(payload.span()));
      } else if (h.length > kMaxPayload) {
        // No payload follows, but a length this big is no sane request.
        co_return InvalidArgument("chunk protocol: {} asks for {} bytes", OpName(h.op), h.length);
      }
      if (Status s = CheckRequest(h); !s.ok()) {
        Log()->warn("request {} refused: {}", h.request_id, s);
        Reply(h, WireStatus::kBadRequest);
        continue;
      }
      if (carries_payload && Crc32c(payload.span()) != h.payload_crc) {
        Log()->warn("request {}: write payload fails its checksum", h.request_id);
        Reply(h, WireStatus::kBadRequest);
        continue;
      }
      while (in_flight_ >= kMaxInFlight) {
        slot_freed_.Reset();
        co_await slot_freed_.Wait();
      }
      ++in_flight_;
      handlers_.Spawn("chunk request", Handle(h, std::move(payload)));
    }
  }

  void Reply(const Header& request, WireStatus status, AlignedBuffer payload = {}) {
    Header h;
    h.op = request.op;
    h.reply = true;
    h.status = status;
    h.request_id = request.request_id;
    h.chunk_id = request.chunk_id;
    h.epoch = request.epoch;
    h.offset = request.offset;
    h.chunk_version = request.chunk_version;
    h.length = static_cast<uint32_t>(payload.size);
    if (payload.size) h.payload_crc = Crc32c(payload.span());
    auto bytes = EncodeHeader(h);
    writer_.Send(OutMessage{std::vector<uint8_t>(bytes.begin(), bytes.end()), std::move(payload)});
  }

  Task<void> Handle(Header h, AlignedBuffer payload) {
    ChunkStore& store = server_.store_;
    const Stamp stamp{h.epoch, h.chunk_version};
    Status s;
    AlignedBuffer out;
    const bool refused = !server_.serving_ && h.op != Op::kPing;
    if (refused) s = Status(ErrorCode::kIoError, "not serving: registration lapsed");
    switch (refused ? Op::kPing : h.op) {  // refused: no work, just the reply
      case Op::kWrite:
        s = co_await store.Write(h.chunk_id, stamp, h.offset, payload.span());
        break;
      case Op::kFill:
        s = co_await store.Fill(h.chunk_id, stamp, h.offset, payload.span());
        break;
      case Op::kRead:
        out = AlignedBuffer::Make(h.length);
        s = co_await store.Read(h.chunk_id, stamp, h.offset, out.span());
        break;
      case Op::kSetVersion:
        s = store.SetVersion(h.chunk_id, h.chunk_version);
        break;
      case Op::kFence:
        s = store.Fence(VolumeOf(h.chunk_id), h.epoch);
        break;
      case Op::kBlockCrcs: {
        auto crcs = co_await store.BlockCrcs(h.chunk_id);
        s = crcs.status();
        if (s.ok()) {
          out = AlignedBuffer::Make(crcs->size() * sizeof(uint32_t));
          std::memcpy(out.data.get(), crcs->data(), out.size);
        }
        break;
      }
      case Op::kDelete:
        s = co_await store.Delete(h.chunk_id);
        break;
      case Op::kPing:
        break;
    }
    if (!s.ok()) {
      Log()->warn("{} chunk {:016x} [{}, +{}) epoch {}: {}", OpName(h.op), h.chunk_id, h.offset,
                  h.length, h.epoch, s);
      out = {};
    }
    Reply(h, ToWire(s), std::move(out));
    ++server_.requests_served_;
    --in_flight_;
    slot_freed_.Set();
  }

  ChunkServer& server_;
  BufferedReader reader_;
  MessageWriter writer_;
  Event slot_freed_;
  TaskGroup handlers_;
  TaskGroup writer_task_;
  size_t in_flight_ = 0;
};

ChunkServer::ChunkServer(Executor ex, ChunkStore& store) : ex_(ex), store_(store), tasks_(ex) {}

ChunkServer::~ChunkServer() = default;

Status ChunkServer::Listen(const std::string& host, uint16_t port) {
  TG_ASSIGN_OR_RETURN(acceptor_, ListenTcp(ex_, "chunkserver", host, port));
  port_ = acceptor_->local_endpoint().port();
  return Status::Ok();
}

Task<void> ChunkServer::Accept() {
  while (!stopping_) {
    auto socket = co_await AcceptStream(*acceptor_);
    if (!socket.ok()) co_return;
    tasks_.Spawn("chunk connection", Serve(std::move(socket).value()));
  }
}

Task<void> ChunkServer::Serve(StreamSocket socket) {
  const uint64_t id = next_connection_++;
  open_[id] = &socket;
  Connection c(*this, socket);
  Status s = co_await c.Run();
  if (!s.ok()) {
    if (s.code() == ErrorCode::kInvalidArgument) ++protocol_errors_;
    Log()->warn("closing connection {}: {}", id, s);
  }
  open_.erase(id);
  boost::system::error_code ec;
  socket.close(ec);
}

Task<void> ChunkServer::Run() {
  if (acceptor_) tasks_.Spawn("chunk accept", Accept());
  co_await tasks_.Join();
}

Task<void> ChunkServer::Stop() {
  stopping_ = true;
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  for (auto& [id, s] : open_) s->close(ec);
  co_await tasks_.Join();
}

}  // namespace tg::storage
