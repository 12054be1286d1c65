#include "nbd/server.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "base/listen.h"
#include "base/log.h"
#include "base/stream.h"
#include "nbd/protocol.h"

namespace tg::nbd {

namespace {

auto Log() {
  static auto log = log::Get("nbd");
  return log;
}

uint32_t ToNbdError(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOutOfRange:
    case ErrorCode::kInvalidArgument:
      return kErrInval;
    case ErrorCode::kResourceExhausted:
      return kErrNoSpc;
    case ErrorCode::kUnimplemented:
      return kErrNotSup;
    case ErrorCode::kCancelled:
      return kErrShutdown;
    default:
      return kErrIo;
  }
}

constexpr size_t kMaxInFlight = 128;

}  // namespace

// One client: the handshake, then the transmission phase with a reader loop,
// one coroutine per request and a single writer of replies.
class Server::Connection {
 public:
  Connection(Server& server, Socket& socket)
      : server_(server),
        socket_(socket),
        reader_(socket, "nbd"),
        replies_(server.ex_, socket),
        slot_freed_(server.ex_),
        handlers_(server.ex_),
        writer_(server.ex_) {}

  Task<Status> Run() {
    TG_CO_ASSIGN_OR_RETURN(const Export* e, co_await Handshake());
    if (!e) co_return Status::Ok();  // the client aborted or only asked questions
    co_return co_await Transmission(*e);
  }

 private:
  Task<Status> Send(std::vector<uint8_t> bytes) {
    boost::system::error_code ec;
    co_await asio::async_write(socket_, asio::buffer(bytes),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Unavailable("nbd: send: {}", ec.message());
    co_return Status::Ok();
  }

  Task<Status> Receive(std::span<uint8_t> into) { return reader_.Receive(into); }

  const Export* FindExport(const std::string& name) const {
    if (name.empty() && server_.exports_.size() == 1) return &server_.exports_.begin()->second;
    auto it = server_.exports_.find(name);
    return it == server_.exports_.end() ? nullptr : &it->second;
  }

  static uint16_t TransmissionFlags(const Export& e) {
    uint16_t f = kTxHasFlags | kTxSendFlush | kTxSendFua | kTxSendTrim | kTxSendWriteZeroes;
    if (e.read_only) f |= kTxReadOnly;
    return f;
  }

  // Returns the export to serve, or nullptr when the client ended politely.
  Task<Result<const Export*>> Handshake() {
    std::vector<uint8_t> hello;
    PutU64(hello, kNbdMagic);
    PutU64(hello, kOptionMagic);
    PutU16(hello, kFlagFixedNewstyle | kFlagNoZeroes);
    TG_CO_RETURN_IF_ERROR(co_await Send(std::move(hello)));
    uint8_t flags_bytes[4];
    TG_CO_RETURN_IF_ERROR(co_await Receive(flags_bytes));
    const uint32_t client_flags = GetU32(flags_bytes);
    if (client_flags & ~(kClientFixedNewstyle | kClientNoZeroes)) {
      co_return InvalidArgument("nbd: unknown client flags {:#x}", client_flags);
    }
    const bool no_zeroes = client_flags & kClientNoZeroes;

    for (;;) {
      uint8_t header_bytes[kOptionHeaderSize];
      TG_CO_RETURN_IF_ERROR(co_await Receive(header_bytes));
      TG_CO_ASSIGN_OR_RETURN(OptionHeader h, ParseOptionHeader(header_bytes));
      std::vector<uint8_t> data(h.length);
      TG_CO_RETURN_IF_ERROR(co_await Receive(data));

      switch (h.option) {
        case kOptExportName: {
          const Export* e = FindExport(std::string(data.begin(), data.end()));
          if (!e)
            co_return NotFound("nbd: no export named '{}'", std::string(data.begin(), data.end()));
          std::vector<uint8_t> reply;
          PutU64(reply, e->volume->size());
          PutU16(reply, TransmissionFlags(*e));
          if (!no_zeroes) reply.resize(reply.size() + 124, 0);
          TG_CO_RETURN_IF_ERROR(co_await Send(std::move(reply)));
          co_return e;
        }
        case kOptAbort:
          (co_await Send(OptionReplyBytes(h.option, kRepAck))).IgnoreError();
          co_return nullptr;
        case kOptList: {
          for (const auto& [name, e] : server_.exports_) {
            std::vector<uint8_t> item;
            PutU32(item, static_cast<uint32_t>(name.size()));
            item.insert(item.end(), name.begin(), name.end());
            TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepServer, item)));
          }
          TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepAck)));
          break;
        }
        case kOptInfo:
        case kOptGo: {
          auto go = ParseGoRequest(data);
          if (!go.ok()) {
            TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepErrInvalid)));
            break;
          }
          const Export* e = FindExport(go->name);
          if (!e) {
            TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepErrUnknown)));
            break;
          }
          std::vector<uint8_t> info;
          PutU16(info, kInfoExport);
          PutU64(info, e->volume->size());
          PutU16(info, TransmissionFlags(*e));
          TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepInfo, info)));
          for (uint16_t want : go->infos) {
            std::vector<uint8_t> extra;
            if (want == kInfoBlockSize) {
              // Any alignment works (unaligned I/O takes the buffered path);
              // 4 KiB is the size that takes the fast path.
              PutU16(extra, kInfoBlockSize);
              PutU32(extra, 1);
              PutU32(extra, 4096);
              PutU32(extra, kMaxPayload);
            } else if (want == kInfoName) {
              PutU16(extra, kInfoName);
              extra.insert(extra.end(), e->name.begin(), e->name.end());
            } else if (want == kInfoDescription && !e->description.empty()) {
              PutU16(extra, kInfoDescription);
              extra.insert(extra.end(), e->description.begin(), e->description.end());
            } else {
              continue;
            }
            TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepInfo, extra)));
          }
          TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepAck)));
          if (h.option == kOptGo) co_return e;
          break;
        }
        default:
          // Structured replies, TLS, metadata contexts: not offered.
          TG_CO_RETURN_IF_ERROR(co_await Send(OptionReplyBytes(h.option, kRepErrUnsup)));
      }
    }
  }

  // Replies that are ready together leave in one gather write: at queue depth
  // 32 this saves most of the send system calls.
  void QueueReply(uint32_t error, uint64_t handle, AlignedBuffer data = {}) {
    replies_.Send(
        OutMessage{SimpleReplyBytes(error, handle), error ? AlignedBuffer{} : std::move(data)});
  }

  Task<void> Handle(const Export* e, Request r, AlignedBuffer payload) {
    volume::Volume& v = *e->volume;
    Status s;
    AlignedBuffer out;
    switch (r.type) {
      case kCmdRead:
        out = AlignedBuffer::Make(r.length);
        s = co_await v.Read(r.offset, out.span());
        break;
      case kCmdWrite: {
        std::span<const uint8_t> data(payload.data.get(), payload.size);
        s = co_await v.Write(r.offset, data);
        break;
      }
      case kCmdFlush:
        s = co_await v.Flush();
        break;
      case kCmdTrim:
        s = co_await v.Discard(r.offset, r.length);
        break;
      case kCmdWriteZeroes:
        s = co_await v.WriteZeroes(r.offset, r.length);
        break;
      case kCmdCache:
        break;  // a hint; nothing to do
    }
    if (s.ok() && (r.flags & kCmdFlagFua) && r.type != kCmdRead && r.type != kCmdFlush) {
      s = co_await v.Flush();
    }
    if (!s.ok())
      Log()->warn("request failed type={} offset={} length={}: {}", r.type, r.offset, r.length, s);
    QueueReply(s.ok() ? 0 : ToNbdError(s), r.handle, std::move(out));
    --in_flight_;
    write_bytes_in_flight_ -= payload.size;
    slot_freed_.Set();
  }

  // Room for one more request carrying `payload_bytes`: a request slot, and
  // payload within the connection's bound (or none in flight at all).
  bool HasRoom(size_t payload_bytes) const {
    if (in_flight_ >= kMaxInFlight) return false;
    return write_bytes_in_flight_ == 0 ||
           write_bytes_in_flight_ + payload_bytes <= server_.options_.max_write_bytes_in_flight;
  }
  Task<void> WaitForRoom(size_t payload_bytes) {
    while (!HasRoom(payload_bytes)) {
      slot_freed_.Reset();
      co_await slot_freed_.Wait();
    }
  }

  Task<Status> Transmission(const Export& e) {
    writer_.Spawn("nbd replies", replies_.Run());
    Status result;
    for (;;) {
      uint8_t bytes[kRequestSize];
      if (Status s = co_await Receive(bytes); !s.ok()) {
        if (s.code() != ErrorCode::kCancelled) result = s;
        break;
      }
      auto r = ParseRequest(bytes);
      if (!r.ok()) {
        result = r.status();
        break;
      }
      AlignedBuffer payload;
      if (r->type == kCmdWrite) {
        // The payload follows whether or not we accept the write; one too big
        // to read safely ends the connection.
        if (r->length > kMaxPayload) {
          result = InvalidArgument("nbd: write of {} bytes exceeds {}", r->length, kMaxPayload);
          break;
        }
        // Room before the payload is read: what the client has not been
        // read from yet stays in its socket, not in our memory.
        if (!HasRoom(r->length)) ++server_.payload_waits_;
        co_await WaitForRoom(r->length);
        payload = AlignedBuffer::Make(r->length);
        if (Status s = co_await Receive(payload.span()); !s.ok()) {
          result = s;
          break;
        }
      }
      if (r->type == kCmdDisconnect) break;
      if (uint32_t err = CheckRequest(*r, e.volume->size(), e.read_only)) {
        QueueReply(err, r->handle);
        continue;
      }
      co_await WaitForRoom(0);
      ++in_flight_;
      write_bytes_in_flight_ += payload.size;
      handlers_.Spawn("nbd request", Handle(&e, *r, std::move(payload)));
    }
    co_await handlers_.Close();
    replies_.Close();
    co_await writer_.Close();
    co_return result;
  }

  Server& server_;
  Socket& socket_;
  BufferedReader reader_;
  MessageWriter replies_;
  Event slot_freed_;
  TaskGroup handlers_;
  TaskGroup writer_;
  size_t in_flight_ = 0;
  size_t write_bytes_in_flight_ = 0;  // payload held by the requests in flight
};

Server::Server(Executor ex, ServerOptions options) : ex_(ex), options_(options), tasks_(ex) {}

Server::~Server() {
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

Status Server::AddExport(Export e) {
  if (!e.volume) return InvalidArgument("export '{}' has no volume", e.name);
  if (e.name.size() > 4096) return InvalidArgument("export name longer than 4096 bytes");
  if (!exports_.emplace(e.name, e).second) return AlreadyExists("export '{}' exists", e.name);
  return Status::Ok();
}

Status Server::ListenUnix(const std::string& path) {
  TG_ASSIGN_OR_RETURN(unix_, tg::ListenUnix(ex_, "nbd", path));
  unix_path_ = path;
  return Status::Ok();
}

Status Server::ListenTcp(const std::string& host, uint16_t port) {
  TG_ASSIGN_OR_RETURN(tcp_, tg::ListenTcp(ex_, "nbd", host, port));
  tcp_port_ = tcp_->local_endpoint().port();
  return Status::Ok();
}

template <typename Acceptor>
Task<void> Server::Accept(Acceptor& acceptor) {
  while (!stopping_) {
    auto socket = co_await AcceptStream(acceptor);
    if (!socket.ok()) co_return;
    tasks_.Spawn("nbd connection", Serve(std::move(socket).value()));
  }
}

Task<void> Server::Serve(Socket socket) {
  const uint64_t id = next_connection_++;
  open_[id] = &socket;
  ++connections_served_;
  Connection c(*this, socket);
  Status s = co_await c.Run();
  if (!s.ok() && s.code() != ErrorCode::kCancelled) {
    if (s.code() == ErrorCode::kInvalidArgument || s.code() == ErrorCode::kNotFound) {
      ++protocol_errors_;
    }
    Log()->warn("closing connection {}: {}", id, s);
  }
  open_.erase(id);
  boost::system::error_code ec;
  socket.close(ec);
}

Task<void> Server::Run() {
  if (unix_) tasks_.Spawn("nbd accept unix", Accept(*unix_));
  if (tcp_) tasks_.Spawn("nbd accept tcp", Accept(*tcp_));
  co_await tasks_.Join();
}

Task<void> Server::Stop() {
  stopping_ = true;
  boost::system::error_code ec;
  if (unix_) unix_->close(ec);
  if (tcp_) tcp_->close(ec);
  for (auto& [id, s] : open_) s->close(ec);
  co_await tasks_.Close();
}

}  // namespace tg::nbd
