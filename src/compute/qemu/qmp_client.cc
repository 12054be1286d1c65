#include "compute/qemu/qmp_client.h"

#include <utility>

#include "base/log.h"

namespace tg::compute {
namespace {

using Socket = asio::local::stream_protocol::socket;

// QEMU's replies are small; a line this long is a broken or hostile peer,
// and buffering more would let it take the agent's memory.
constexpr size_t kMaxLine = 16 << 20;
constexpr size_t kReadChunk = 64 << 10;
// Events nobody takes are dropped oldest first past this many.
constexpr size_t kMaxQueuedEvents = 4096;

std::shared_ptr<spdlog::logger> Log() {
  static auto log = log::Get("qmp");
  return log;
}

// One command waiting for its reply.
struct Pending {
  explicit Pending(Executor ex) : done(ex) {}
  std::string command;
  std::optional<Result<nlohmann::json>> result;
  Event done;
};

// Everything the reader, the writer and the callers share. Held by
// shared_ptr from each coroutine, so a client destroyed with commands in
// flight leaves them a live state to find closed.
struct QmpState {
  QmpState(Executor ex, std::string path)
      : ex(ex),
        path(std::move(path)),
        socket(ex),
        greeted(ex),
        out_ready(ex),
        event_arrived(ex),
        closed(ex) {}

  // Ends the connection once: every pending command fails with `why`
  // (Unavailable when the peer went away, InvalidArgument when it broke
  // the protocol).
  void Shutdown(Status why) {
    if (closed.is_set()) return;
    close_reason = std::move(why);
    boost::system::error_code ec;
    socket.close(ec);
    auto pending_now = std::exchange(pending, {});
    for (auto& [id, p] : pending_now) {
      p->result = close_reason;
      p->done.Set();
    }
    closed.Set();
    greeted.Set();
    out_ready.Notify();
    event_arrived.Notify();
  }

  Executor ex;
  std::string path;
  Socket socket;
  Event greeted;  // also set on close: look at `closed`
  Status close_reason;
  int64_t next_id = 1;
  std::map<int64_t, std::shared_ptr<Pending>> pending;
  std::string outgoing;  // lines not yet written
  Broadcast out_ready;
  std::deque<QmpEvent> events;
  Broadcast event_arrived;
  Event closed;
};

Result<QmpEvent> ParseEvent(const nlohmann::json& j) {
  QmpEvent e;
  const auto& name = j["event"];
  if (!name.is_string()) return InvalidArgument("qmp: an event's name is not a string");
  e.name = name.get<std::string>();
  if (auto d = j.find("data"); d != j.end()) {
    if (!d->is_object())
      return InvalidArgument("qmp: event {} has data that is not an object", e.name);
    e.data = *d;
  }
  if (auto t = j.find("timestamp"); t != j.end()) {
    if (!t->is_object()) return InvalidArgument("qmp: event {} has a bad timestamp", e.name);
    auto s = t->find("seconds"), us = t->find("microseconds");
    if (s == t->end() || us == t->end() || !s->is_number_integer() || !us->is_number_integer())
      return InvalidArgument("qmp: event {} has a bad timestamp", e.name);
    e.seconds = s->get<int64_t>();
    e.microseconds = us->get<int64_t>();
  }
  return e;
}

Status ErrorReply(const std::string& command, const nlohmann::json& error) {
  auto text = [&](const char* key) {
    auto it = error.is_object() ? error.find(key) : error.end();
    return it != error.end() && it->is_string() ? it->get<std::string>() : std::string("?");
  };
  return FailedPrecondition("qmp {}: {}: {}", command, text("class"), text("desc"));
}

// One message from the peer. An error closes the connection.
Status HandleMessage(QmpState& s, std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return InvalidArgument("qmp: {} sent a message that is not a JSON object", s.path);
  if (!s.greeted.is_set()) {
    if (!j.contains("QMP")) return InvalidArgument("qmp: {} did not greet with QMP", s.path);
    s.greeted.Set();
    return Status::Ok();
  }
  if (j.contains("event")) {
    TG_ASSIGN_OR_RETURN(QmpEvent e, ParseEvent(j));
    if (s.events.size() >= kMaxQueuedEvents) {
      Log()->warn("event dropped: queue full socket={} event={}", s.path, s.events.front().name);
      s.events.pop_front();
    }
    s.events.push_back(std::move(e));
    s.event_arrived.Notify();
    return Status::Ok();
  }
  bool is_return = j.contains("return"), is_error = j.contains("error");
  if (!is_return && !is_error) {
    // Not a kind of message QMP 1.0 has: later versions may add some.
    Log()->warn("message ignored: neither a reply nor an event socket={}", s.path);
    return Status::Ok();
  }
  auto id = j.find("id");
  if (id == j.end() || !id->is_number_integer()) {
    // QEMU answers a request it could not parse without its id.
    Log()->warn("reply without our id ignored socket={} reply={}", s.path, line.substr(0, 200));
    return Status::Ok();
  }
  auto it = s.pending.find(id->get<int64_t>());
  if (it == s.pending.end()) return Status::Ok();  // its caller gave up waiting
  std::shared_ptr<Pending> p = it->second;
  s.pending.erase(it);
  p->result = is_error ? Result<nlohmann::json>(ErrorReply(p->command, j["error"]))
                       : Result<nlohmann::json>(j["return"]);
  p->done.Set();
  return Status::Ok();
}

Status LineTooLong(const QmpState& s) {
  return InvalidArgument("qmp: {} sent a line longer than {} bytes", s.path, kMaxLine);
}

// The complete lines at the front of `in`, handled and erased; the first
// error ends the connection.
Status HandleLines(QmpState& s, std::string& in, size_t& scanned) {
  size_t start = 0;
  for (size_t nl; (nl = in.find('\n', std::max(start, scanned))) != std::string::npos;
       start = nl + 1) {
    std::string_view line(in.data() + start, nl - start);
    if (line.size() > kMaxLine) return LineTooLong(s);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    TG_RETURN_IF_ERROR(HandleMessage(s, line));
  }
  in.erase(0, start);
  scanned = in.size();
  if (in.size() > kMaxLine) return LineTooLong(s);
  return Status::Ok();
}

// Owns the socket's read side: splits lines, hands them on, and ends the
// connection when the peer does or breaks the protocol.
Task<void> ReadLoop(std::shared_ptr<QmpState> s) {
  std::string in;
  size_t scanned = 0;  // bytes of `in` known to hold no newline
  std::vector<char> chunk(kReadChunk);
  while (!s->closed.is_set()) {
    boost::system::error_code ec;
    size_t n = co_await s->socket.async_read_some(asio::buffer(chunk),
                                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      s->Shutdown(ec == asio::error::eof
                      ? Unavailable("qmp: {} closed the connection", s->path)
                      : Unavailable("qmp: read from {}: {}", s->path, ec.message()));
      co_return;
    }
    in.append(chunk.data(), n);
    if (Status st = HandleLines(*s, in, scanned); !st.ok()) {
      Log()->warn("connection closed: {}", st);
      s->Shutdown(st);
    }
  }
}

// Owns the write side: every line queued meanwhile goes out in one write.
Task<void> WriteLoop(std::shared_ptr<QmpState> s) {
  while (!s->closed.is_set()) {
    if (s->outgoing.empty()) {
      co_await s->out_ready.Wait();
      continue;
    }
    std::string batch = std::exchange(s->outgoing, {});
    boost::system::error_code ec;
    co_await asio::async_write(s->socket, asio::buffer(batch),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) s->Shutdown(Unavailable("qmp: write to {}: {}", s->path, ec.message()));
  }
}

Task<Result<nlohmann::json>> ExecuteOn(std::shared_ptr<QmpState> s, std::string command,
                                       nlohmann::json arguments, Duration timeout) {
  if (!arguments.is_null() && !arguments.is_object())
    co_return InvalidArgument("qmp {}: arguments must be an object", command);
  if (s->closed.is_set()) co_return Unavailable("qmp {}: {}", command, s->close_reason.message());
  const int64_t id = s->next_id++;
  auto p = std::make_shared<Pending>(s->ex);
  p->command = command;
  s->pending[id] = p;
  nlohmann::json request = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) request["arguments"] = std::move(arguments);
  s->outgoing += request.dump();
  s->outgoing += '\n';
  s->out_ready.Notify();

  co_await (p->done.Wait() || SleepFor(timeout));
  if (p->result) {
    // An end of the connection is the same for every command: say which.
    if (!p->result->ok() && s->closed.is_set())
      co_return p->result->status().Annotate("qmp " + command);
    co_return std::move(*p->result);
  }
  s->pending.erase(id);  // a late reply is dropped
  const bool cancelled = co_await IsCancelled();
  if (cancelled) co_return Cancelled("qmp {}: cancelled", command);
  co_return DeadlineExceeded(
      "qmp {}: no reply within {} ms", command,
      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
}

Task<Status> Handshake(std::shared_ptr<QmpState> s) {
  boost::system::error_code ec;
  co_await s->socket.async_connect(asio::local::stream_protocol::endpoint(s->path),
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Unavailable("qmp: connect to {}: {}", s->path, ec.message());
  asio::co_spawn(s->ex, ReadLoop(s), asio::detached);
  asio::co_spawn(s->ex, WriteLoop(s), asio::detached);
  co_await s->greeted.Wait();
  if (s->closed.is_set()) co_return s->close_reason;
  if (!s->greeted.is_set()) co_return Cancelled("qmp: connect to {} cancelled", s->path);
  // The handshake's own deadline is the caller's, around all of this.
  auto r = co_await ExecuteOn(s, "qmp_capabilities", nullptr, std::chrono::hours(1));
  if (!r.ok() && s->closed.is_set() && s->close_reason.code() == ErrorCode::kInvalidArgument)
    co_return s->close_reason;
  co_return r.status();
}

}  // namespace

struct QmpClient::Impl {
  std::shared_ptr<QmpState> state;
};

Task<Result<std::unique_ptr<QmpClient>>> QmpClient::Connect(Executor ex, std::string socket_path,
                                                            Duration timeout) {
  auto state = std::make_shared<QmpState>(ex, socket_path);
  Status st = co_await WithTimeout(timeout, "qmp handshake with " + socket_path, Handshake(state));
  if (!st.ok()) {
    state->Shutdown(st);
    // No greeting in time: QEMU is not (or no longer) serving, worth a retry.
    if (st.code() == ErrorCode::kDeadlineExceeded) co_return Unavailable("{}", st.message());
    co_return st;
  }
  co_return std::unique_ptr<QmpClient>(new QmpClient(std::make_unique<Impl>(Impl{state})));
}

QmpClient::QmpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

QmpClient::~QmpClient() {
  Close();
}

Task<Result<nlohmann::json>> QmpClient::Execute(std::string command, nlohmann::json arguments,
                                                Duration timeout) {
  // The state, not `this`: the client may go while the command waits.
  return ExecuteOn(impl_->state, std::move(command), std::move(arguments), timeout);
}

Task<std::optional<QmpEvent>> QmpClient::NextEvent() {
  std::shared_ptr<QmpState> s = impl_->state;
  for (;;) {
    if (!s->events.empty()) {
      QmpEvent e = std::move(s->events.front());
      s->events.pop_front();
      co_return e;
    }
    if (s->closed.is_set()) co_return std::nullopt;
    const bool cancelled = co_await IsCancelled();
    if (cancelled) co_return std::nullopt;
    co_await s->event_arrived.Wait();
  }
}

Task<std::optional<QmpEvent>> QmpClient::WaitForEvent(std::function<bool(const QmpEvent&)> match,
                                                      Duration timeout) {
  std::shared_ptr<QmpState> s = impl_->state;
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    while (!s->events.empty()) {
      QmpEvent e = std::move(s->events.front());
      s->events.pop_front();
      if (match(e)) co_return e;
    }
    if (s->closed.is_set() || Clock::now() >= deadline) co_return std::nullopt;
    const bool cancelled = co_await IsCancelled();
    if (cancelled) co_return std::nullopt;
    // Waiting on the notification, never on a pop: a pop cancelled by the
    // timer could lose the event it had just taken.
    co_await (s->event_arrived.Wait() || SleepFor(deadline - Clock::now()));
  }
}

bool QmpClient::connected() const {
  return !impl_->state->closed.is_set();
}

Event& QmpClient::closed() {
  return impl_->state->closed;
}

void QmpClient::Close() {
  if (impl_)
    impl_->state->Shutdown(Unavailable("qmp: {}: closed by this client", impl_->state->path));
}

}  // namespace tg::compute
