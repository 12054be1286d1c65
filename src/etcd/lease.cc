#include "etcd/lease.h"

#include "base/log.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd/grpc_bridge.h"

namespace tg::etcd {

namespace pb = etcdserverpb;

namespace {
auto Log() {
  static auto log = log::Get("lease");
  return log;
}
}  // namespace

Task<Result<std::unique_ptr<LeaseKeeper>>> LeaseKeeper::Start(Client& client,
                                                              std::chrono::seconds ttl) {
  const TimePoint asked_at = Clock::now();
  TG_CO_ASSIGN_OR_RETURN(Lease lease, co_await client.GrantLease(ttl));
  std::unique_ptr<LeaseKeeper> keeper(new LeaseKeeper(client, lease, asked_at));
  keeper->tasks_.Spawn("lease keep-alive", keeper->KeepAliveLoop());
  keeper->tasks_.Spawn("lease watchdog", keeper->Watchdog());
  co_return keeper;
}

LeaseKeeper::LeaseKeeper(Client& client, Lease lease, TimePoint granted_at)
    : client_(client),
      lease_(lease),
      valid_until_(granted_at + lease.ttl),
      margin_(std::min<Duration>(500ms, lease.ttl / 4)),
      lost_(client.executor()),
      tasks_(client.executor()) {}

LeaseKeeper::~LeaseKeeper() = default;

void LeaseKeeper::MarkLost(std::string_view why) {
  if (lost_.is_set()) return;
  Log()->warn("lease lost id={:x} reason=\"{}\"", lease_.id, why);
  lost_.Set();
}

Task<void> LeaseKeeper::KeepAliveLoop() {
  const Duration interval = std::max<Duration>(lease_.ttl / 3, 200ms);
  std::unique_ptr<Client::KeepAliveStream> stream;
  size_t member = 0;
  Backoff reconnect(client_.options().retry.backoff);
  while (!stopped_ && !lost_.is_set()) {
    if (stream && stream->ended()) {
      client_.ReportFailure(member, stream->status());
      stream.reset();
      if (!co_await SleepFor(reconnect.Next())) co_return;
    }
    if (!stream) stream = client_.OpenKeepAlive(&member);
    const TimePoint sent_at = Clock::now();
    pb::LeaseKeepAliveRequest req;
    req.set_id(lease_.id);
    stream->Write(std::move(req));
    auto outcome = co_await (stream->Read() || SleepFor(interval));
    if (stopped_ || co_await IsCancelled()) co_return;
    if (outcome.index() == 1) {
      // No answer in time: try again on a fresh stream (maybe another member).
      client_.ReportFailure(member, DeadlineExceeded("lease keep-alive unanswered"));
      stream.reset();
      continue;
    }
    auto& resp = std::get<0>(outcome);
    if (!resp) continue;  // the stream ended; reconnect at the top
    if (resp->ttl() <= 0) {
      MarkLost("the lease expired on the server");
      co_return;
    }
    reconnect.Reset();
    valid_until_ = std::max(valid_until_, sent_at + std::chrono::seconds(resp->ttl()));
    if (!co_await SleepFor(interval)) co_return;
  }
}

Task<void> LeaseKeeper::Watchdog() {
  asio::steady_timer timer(client_.executor());
  while (!stopped_ && !lost_.is_set()) {
    const TimePoint deadline = valid_until_ - margin_;
    if (Clock::now() >= deadline) {
      MarkLost("no keep-alive acknowledged in time");
      co_return;
    }
    timer.expires_at(deadline);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // cancelled: stopping
  }
}

Task<void> LeaseKeeper::Stop() {
  stopped_ = true;
  tasks_.CancelAll();
  co_await tasks_.Join();
}

Task<Status> LeaseKeeper::Revoke() {
  co_await Stop();
  Status s = co_await client_.RevokeLease(lease_.id);
  lost_.Set();
  co_return s;
}

}  // namespace tg::etcd
