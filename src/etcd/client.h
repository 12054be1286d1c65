// An etcd v3 client over gRPC, on the async runtime.
//
// - KV: Get (one key, a prefix or a range), Put, Delete, and transactions
//   (compare-and-swap) built with Txn.
// - Leases: grant, keep-alive (LeaseKeeper), revoke.
// - Watch (Watcher): every event in revision order, exactly once, resumed from
//   the next revision after a broken stream or a member failure.
// - Failover: the client talks to one member at a time; when it fails
//   (unreachable, timed out, lost its raft leader) the client moves to the next
//   member and retries what is safe to retry (see Txn below).
//
// Thread-safety: a Client belongs to one executor; call it from coroutines on
// that executor. REQUIRES: every Watcher/LeaseKeeper is destroyed before its
// Client.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "base/async.h"
#include "base/status.h"

namespace etcdserverpb {
class KV;
class Lease;
class Watch;
class WatchRequest;
class WatchResponse;
class LeaseKeepAliveRequest;
class LeaseKeepAliveResponse;
}  // namespace etcdserverpb

namespace tg::etcd {

namespace detail {
class CallTracker;
template <typename Req, typename Resp>
class BidiStream;
}  // namespace detail

using LeaseId = int64_t;

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  LeaseId lease = 0;
};

// The option structs below are kept trivially copyable on purpose: GCC 12
// miscompiles a braced temporary of a class with non-trivial members inside a
// co_await expression (it frees the temporary twice), and these are written
// exactly that way: co_await client.Get(k, {.prefix = true}).
struct GetOptions {
  bool prefix = false;   // every key that starts with `key`
  int64_t limit = 0;     // 0: no limit
  int64_t revision = 0;  // read as of this revision; 0: latest
  bool keys_only = false;
  bool count_only = false;
  bool serializable = false;        // allow a possibly stale read from the member itself
  int64_t max_create_revision = 0;  // only keys created at or before this revision
  enum class Sort { kNone, kByKey, kByCreateRevision } sort = Sort::kNone;
  bool descending = false;
};

struct GetResult {
  std::vector<KeyValue> kvs;
  int64_t count = 0;     // all matches, even beyond the limit
  bool more = false;     // more matches than returned
  int64_t revision = 0;  // store revision the read was served at
};

static_assert(std::is_trivially_copyable_v<GetOptions>);

struct PutResult {
  int64_t revision = 0;
  std::optional<KeyValue> prev;  // when PutOptions::prev_kv
};

struct PutOptions {
  LeaseId lease = 0;
  bool prev_kv = false;
};

struct DeleteOptions {
  bool prefix = false;
};

struct DeleteResult {
  int64_t deleted = 0;
  int64_t revision = 0;
};

// A transaction: if every comparison holds, run `then` ops, else `otherwise`.
struct Compare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op { kEqual, kNotEqual, kLess, kGreater };
  std::string key;
  Target target;
  Op op;
  int64_t number = 0;  // for version, revisions and lease
  std::string value;   // for kValue

  static Compare Version(std::string key, Op op, int64_t v) {
    return {std::move(key), Target::kVersion, op, v, {}};
  }
  static Compare CreateRevision(std::string key, Op op, int64_t r) {
    return {std::move(key), Target::kCreateRevision, op, r, {}};
  }
  static Compare ModRevision(std::string key, Op op, int64_t r) {
    return {std::move(key), Target::kModRevision, op, r, {}};
  }
  static Compare Value(std::string key, Op op, std::string v) {
    return {std::move(key), Target::kValue, op, 0, std::move(v)};
  }
  // "the key does not exist"
  static Compare Missing(std::string key) { return CreateRevision(std::move(key), Op::kEqual, 0); }
  // The key is as read at `revision` (its mod revision; 0: it was absent).
  static Compare Unchanged(std::string key, int64_t revision) {
    return revision == 0 ? Missing(std::move(key))
                         : ModRevision(std::move(key), Op::kEqual, revision);
  }
};

struct TxnOp {
  enum class Kind { kGet, kPut, kDelete } kind;
  std::string key;
  std::string value;  // put
  LeaseId lease = 0;  // put
  GetOptions get;     // get
  DeleteOptions del;  // delete

  static TxnOp Get(std::string key, GetOptions o = {}) {
    return {Kind::kGet, std::move(key), {}, 0, std::move(o), {}};
  }
  static TxnOp Put(std::string key, std::string value, LeaseId lease = 0) {
    return {Kind::kPut, std::move(key), std::move(value), lease, {}, {}};
  }
  static TxnOp Delete(std::string key, DeleteOptions o = {}) {
    return {Kind::kDelete, std::move(key), {}, 0, {}, std::move(o)};
  }
};

// A transaction is retried on another member only when the failed attempt
// certainly never reached a server; otherwise the caller gets Unavailable and
// decides (its compares tell on a re-read whether the first attempt applied).
struct Txn {
  std::vector<Compare> compares;
  std::vector<TxnOp> then;
  std::vector<TxnOp> otherwise;
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<GetResult> gets;  // one per kGet op of the branch that ran, in order
};

struct Lease {
  LeaseId id = 0;
  std::chrono::seconds ttl{0};
};

struct ClientOptions {
  // "http://127.0.0.1:2379" or "127.0.0.1:2379"; one per member.
  std::vector<std::string> endpoints;
  Duration request_timeout = 5s;  // one attempt on one member
  // Retries across members for calls that are safe to repeat.
  RetryPolicy retry{.backoff = {.initial = 50ms, .max = 1s}, .budget = 15s};
};

// Validates "http://host:port" / "host:port" and returns "host:port".
Result<std::string> ParseEndpoint(std::string_view url);
// The end of the key range holding every key that starts with `prefix`.
std::string PrefixEnd(std::string_view prefix);

class Client {
 public:
  static Result<std::unique_ptr<Client>> Create(Executor ex, ClientOptions options);
  ~Client();

  Task<Result<GetResult>> Get(std::string key, GetOptions options = {});
  Task<Result<PutResult>> Put(std::string key, std::string value, PutOptions options = {});
  Task<Result<DeleteResult>> Delete(std::string key, DeleteOptions options = {});
  Task<Result<TxnResult>> Commit(Txn txn);

  Task<Result<Lease>> GrantLease(std::chrono::seconds ttl);
  Task<Status> RevokeLease(LeaseId id);

  // Succeeds once a member answers a linearizable read, i.e. the cluster has a
  // leader and quorum; tries for at most `budget`. Used at start-up to fail
  // fast with a clear message.
  Task<Status> CheckReachable(Duration budget = 10s);

  Executor executor() const { return executor_; }
  const ClientOptions& options() const { return options_; }

  // Read-your-writes for readers of a Mirror: once a prefix is tracked, the
  // client remembers the revision of its latest write that changed a key
  // under it (a put, or a delete that deleted something). A Mirror that has
  // reached that revision shows every write this client made there.
  void TrackWritesUnder(std::string prefix);
  // 0 if nothing under `prefix` was written since it was tracked (or it is
  // not tracked).
  int64_t LastWriteUnder(std::string_view prefix) const;
  // The member calls go to now ("host:port").
  std::string current_endpoint() const;

  // Plumbing for Watcher and LeaseKeeper.
  using WatchStream = detail::BidiStream<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>;
  using KeepAliveStream =
      detail::BidiStream<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>;
  // Opens a stream on the current member; `member` receives its index.
  std::unique_ptr<WatchStream> OpenWatch(size_t* member);
  std::unique_ptr<KeepAliveStream> OpenKeepAlive(size_t* member);
  // Tells the client that `member` failed, so it moves on to the next one.
  void ReportFailure(size_t member, const Status& why);

 private:
  struct Member;
  Client(Executor ex, ClientOptions options);

  // Runs `call(member)` on the current member, moving to the next member and
  // retrying on transient failures while `retry_ok` allows.
  template <typename T, typename CallFn>
  Task<Result<T>> CallWithFailover(std::string_view what, bool always_retry, CallFn call,
                                   std::optional<Duration> budget = std::nullopt);
  Task<Result<GetResult>> GetWithBudget(std::string key, GetOptions options,
                                        std::optional<Duration> budget);

  // A write of `key` (or of keys starting with it) that reached the store at
  // `revision`.
  void NoteWrite(std::string_view key, int64_t revision);

  struct WriteMark {
    std::string prefix;
    int64_t revision = 0;
  };

  Executor executor_;
  ClientOptions options_;
  std::vector<WriteMark> write_marks_;
  std::vector<std::unique_ptr<Member>> members_;
  std::atomic<size_t> current_{0};
  std::unique_ptr<detail::CallTracker> tracker_;
};

}  // namespace tg::etcd
