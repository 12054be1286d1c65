#include "etcd/client.h"

#include <grpcpp/grpcpp.h>

#include "base/log.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd/grpc_bridge.h"
#include "etcd/proto_convert.h"

namespace tg::etcd {

namespace pb = etcdserverpb;

struct Client::Member {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<pb::Watch::Stub> watch;
};

namespace {

auto Log() {
  static auto log = log::Get("etcd");
  return log;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // Reconnect quickly: a restarted member is back within a second or two.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Notice a silently dead member (partition) on long-lived streams. etcd
  // accepts pings no more often than every 5 s, and only with calls open.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetMaxReceiveMessageSize(64 << 20);
  // One connection per member, not shared with other channels of the process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// gRPC 1.51 shares one completion queue among all channels for callback
// calls, and shuts it down when the last such channel goes; a new channel
// racing that shutdown double-frees it (seen under ASan when a test destroys
// its clients and makes new ones). One channel is kept for the life of the
// process, so the queue is made once and never shut down early.
void KeepCallbackQueueAlive(const std::shared_ptr<grpc::Channel>& channel) {
  static auto* anchor = new std::shared_ptr<grpc::Channel>(channel);
  (void)anchor;
}

}  // namespace

Result<std::string> ParseEndpoint(std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    return InvalidArgument("etcd endpoint '{}': TLS is not supported yet; use http://", url);
  } else if (rest.find("://") != std::string_view::npos) {
    return InvalidArgument("etcd endpoint '{}': unknown scheme; use http://host:port", url);
  }
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgument("etcd endpoint '{}': expected host:port", url);
  }
  std::string_view port = rest.substr(colon + 1);
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9' || value > 65535) {
      return InvalidArgument("etcd endpoint '{}': bad port '{}'", url, port);
    }
    value = value * 10 + (c - '0');
  }
  if (port.empty() || value == 0 || value > 65535) {
    return InvalidArgument("etcd endpoint '{}': bad port '{}'", url, port);
  }
  return std::string(rest);
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key: etcd's "from key to the end"
}

Result<std::unique_ptr<Client>> Client::Create(Executor ex, ClientOptions options) {
  if (options.endpoints.empty()) return InvalidArgument("no etcd endpoints given");
  std::unique_ptr<Client> client(new Client(ex, options));
  for (const auto& url : options.endpoints) {
    TG_ASSIGN_OR_RETURN(std::string address, ParseEndpoint(url));
    auto m = std::make_unique<Member>();
    m->address = address;
    m->channel = MakeChannel(address);
    KeepCallbackQueueAlive(m->channel);
    m->kv = pb::KV::NewStub(m->channel);
    m->lease = pb::Lease::NewStub(m->channel);
    m->watch = pb::Watch::NewStub(m->channel);
    client->members_.push_back(std::move(m));
  }
  return client;
}

Client::Client(Executor ex, ClientOptions options)
    : executor_(ex),
      options_(std::move(options)),
      tracker_(std::make_unique<detail::CallTracker>()) {}

Client::~Client() {
  tracker_->CancelAllAndWait();
}

std::string Client::current_endpoint() const {
  return members_[current_.load()]->address;
}

void Client::ReportFailure(size_t member, const Status& why) {
  size_t expected = member;
  size_t next = (member + 1) % members_.size();
  if (current_.compare_exchange_strong(expected, next) && members_.size() > 1) {
    Log()->warn("member failed, switching member={} next={} reason=\"{}\"",
                members_[member]->address, members_[next]->address, why.message());
  }
}

template <typename T, typename CallFn>
Task<Result<T>> Client::CallWithFailover(std::string_view what, bool always_retry, CallFn call,
                                         std::optional<Duration> budget) {
  // An attempt on a member that was not connected failed before anything was
  // sent, so even a non-idempotent call may be repeated elsewhere.
  bool maybe_sent = false;
  RetryPolicy policy = options_.retry;
  if (budget) policy.budget = *budget;
  policy.retryable = [&](const Status& s) {
    return IsTransient(s) && (always_retry || !maybe_sent);
  };
  co_return co_await Retry<T>(policy, [&]() -> Task<Result<T>> {
    size_t index = current_.load();
    Member& m = *members_[index];
    maybe_sent = m.channel->GetState(true) == GRPC_CHANNEL_READY;
    Result<T> r = co_await call(m);
    if (!r.ok() && IsTransient(r.status())) ReportFailure(index, r.status());
    if (!r.ok()) co_return r.status().Annotate(fmt::format("{} at {}", what, m.address));
    co_return r;
  });
}

Task<Result<GetResult>> Client::Get(std::string key, GetOptions options) {
  return GetWithBudget(std::move(key), std::move(options), std::nullopt);
}

Task<Result<GetResult>> Client::GetWithBudget(std::string key, GetOptions options,
                                              std::optional<Duration> budget) {
  pb::RangeRequest req = ToRangeRequest(key, options);
  auto r = co_await CallWithFailover<pb::RangeResponse>(
      "get", true,
      [&](Member& m) {
        return detail::UnaryCall<pb::RangeRequest, pb::RangeResponse>(
            *tracker_, "Range", options_.request_timeout, req,
            [&m](auto* c, auto* q, auto* p, auto d) {
              m.kv->async()->Range(c, q, p, std::move(d));
            });
      },
      budget);
  if (!r.ok()) co_return r.status();
  co_return FromRangeResponse(*r);
}

Task<Result<PutResult>> Client::Put(std::string key, std::string value, PutOptions options) {
  pb::PutRequest req;
  req.set_key(std::move(key));
  req.set_value(std::move(value));
  req.set_lease(options.lease);
  req.set_prev_kv(options.prev_kv);
  // A put writes the whole value, so repeating it leaves the same state.
  auto r = co_await CallWithFailover<pb::PutResponse>("put", true, [&](Member& m) {
    return detail::UnaryCall<pb::PutRequest, pb::PutResponse>(
        *tracker_, "Put", options_.request_timeout, req,
        [&m](auto* c, auto* q, auto* p, auto d) { m.kv->async()->Put(c, q, p, std::move(d)); });
  });
  if (!r.ok()) co_return r.status();
  PutResult out;
  out.revision = r->header().revision();
  if (r->has_prev_kv()) out.prev = FromProto(r->prev_kv());
  NoteWrite(req.key(), out.revision);
  co_return out;
}

Task<Result<DeleteResult>> Client::Delete(std::string key, DeleteOptions options) {
  pb::DeleteRangeRequest req = ToDeleteRequest(key, options);
  auto r = co_await CallWithFailover<pb::DeleteRangeResponse>("delete", true, [&](Member& m) {
    return detail::UnaryCall<pb::DeleteRangeRequest, pb::DeleteRangeResponse>(
        *tracker_, "DeleteRange", options_.request_timeout, req,
        [&m](auto* c, auto* q, auto* p, auto d) {
          m.kv->async()->DeleteRange(c, q, p, std::move(d));
        });
  });
  if (!r.ok()) co_return r.status();
  // Deleting nothing makes no revision: there is nothing to wait for.
  if (r->deleted() > 0) NoteWrite(req.key(), r->header().revision());
  co_return DeleteResult{.deleted = r->deleted(), .revision = r->header().revision()};
}

Task<Result<TxnResult>> Client::Commit(Txn txn) {
  pb::TxnRequest req = ToTxnRequest(txn);
  auto r = co_await CallWithFailover<pb::TxnResponse>("txn", false, [&](Member& m) {
    return detail::UnaryCall<pb::TxnRequest, pb::TxnResponse>(
        *tracker_, "Txn", options_.request_timeout, req,
        [&m](auto* c, auto* q, auto* p, auto d) { m.kv->async()->Txn(c, q, p, std::move(d)); });
  });
  if (!r.ok()) co_return r.status();
  const std::vector<TxnOp>& ran = r->succeeded() ? txn.then : txn.otherwise;
  for (size_t i = 0; i < ran.size() && i < static_cast<size_t>(r->responses_size()); ++i) {
    const auto& response = r->responses(static_cast<int>(i));
    if (ran[i].kind == TxnOp::Kind::kPut ||
        (ran[i].kind == TxnOp::Kind::kDelete && response.has_response_delete_range() &&
         response.response_delete_range().deleted() > 0))
      NoteWrite(ran[i].key, r->header().revision());
  }
  co_return FromTxnResponse(*r);
}

void Client::TrackWritesUnder(std::string prefix) {
  for (const auto& m : write_marks_)
    if (m.prefix == prefix) return;
  write_marks_.push_back({std::move(prefix), 0});
}

int64_t Client::LastWriteUnder(std::string_view prefix) const {
  for (const auto& m : write_marks_)
    if (m.prefix == prefix) return m.revision;
  return 0;
}

void Client::NoteWrite(std::string_view key, int64_t revision) {
  // A range delete counts only where every key it can delete is under the
  // prefix (its start key is): one wider than the prefix may have deleted
  // nothing there, and a mark with no event under the prefix is never reached.
  for (auto& m : write_marks_)
    if (key.starts_with(m.prefix)) m.revision = std::max(m.revision, revision);
}

Task<Result<Lease>> Client::GrantLease(std::chrono::seconds ttl) {
  if (ttl.count() <= 0)
    co_return InvalidArgument("lease TTL must be positive, got {}s", ttl.count());
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl.count());
  // A repeated grant can at worst leave an unused lease, which expires.
  auto r = co_await CallWithFailover<pb::LeaseGrantResponse>("grant lease", true, [&](Member& m) {
    return detail::UnaryCall<pb::LeaseGrantRequest, pb::LeaseGrantResponse>(
        *tracker_, "LeaseGrant", options_.request_timeout, req,
        [&m](auto* c, auto* q, auto* p, auto d) {
          m.lease->async()->LeaseGrant(c, q, p, std::move(d));
        });
  });
  if (!r.ok()) co_return r.status();
  if (!r->error().empty()) co_return Unavailable("grant lease: {}", r->error());
  co_return Lease{.id = r->id(), .ttl = std::chrono::seconds(r->ttl())};
}

Task<Status> Client::RevokeLease(LeaseId id) {
  pb::LeaseRevokeRequest req;
  req.set_id(id);
  auto r = co_await CallWithFailover<pb::LeaseRevokeResponse>("revoke lease", true, [&](Member& m) {
    return detail::UnaryCall<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>(
        *tracker_, "LeaseRevoke", options_.request_timeout, req,
        [&m](auto* c, auto* q, auto* p, auto d) {
          m.lease->async()->LeaseRevoke(c, q, p, std::move(d));
        });
  });
  co_return r.status();
}

Task<Status> Client::CheckReachable(Duration budget) {
  auto r = co_await GetWithBudget("/tiangong/health-probe", {.count_only = true}, budget);
  if (r.ok()) co_return Status::Ok();
  std::string list;
  for (const auto& m : members_) list += (list.empty() ? "" : ",") + m->address;
  co_return Unavailable("cannot reach etcd at {}: {}", list, r.status().message());
}

std::unique_ptr<Client::WatchStream> Client::OpenWatch(size_t* member) {
  *member = current_.load();
  Member& m = *members_[*member];
  return WatchStream::Open(
      executor_, *tracker_,
      [&m](grpc::ClientContext* ctx,
           grpc::ClientBidiReactor<pb::WatchRequest, pb::WatchResponse>* r) {
        m.watch->async()->Watch(ctx, r);
      },
      /*require_leader=*/true);
}

std::unique_ptr<Client::KeepAliveStream> Client::OpenKeepAlive(size_t* member) {
  *member = current_.load();
  Member& m = *members_[*member];
  return KeepAliveStream::Open(
      executor_, *tracker_,
      [&m](grpc::ClientContext* ctx,
           grpc::ClientBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* r) {
        m.lease->async()->LeaseKeepAlive(ctx, r);
      },
      /*require_leader=*/true);
}

}  // namespace tg::etcd
