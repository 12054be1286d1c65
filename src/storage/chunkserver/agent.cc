#include "storage/chunkserver/agent.h"

#include <unistd.h>

#include "base/config.h"
#include "base/log.h"
#include "etcd/lease.h"
#include "etcd/watch.h"
#include "storage/chunkserver/chunk_store.h"
#include "storage/chunkserver/server.h"
#include "storage/common/chunk_client.h"
#include "storage/common/metadata.h"
#include "storage/common/storage_state.h"

namespace tg::storage {

namespace {

auto Log() {
  static auto log = log::Get("chunkserver");
  return log;
}

class Agent {
 public:
  Agent(etcd::Client& client, ChunkserverOptions options, ChunkStore& store)
      : client_(client), options_(std::move(options)), store_(store) {}

  // Registered and serving until `stop`. A lapsed registration (a partition
  // from etcd, a long stall) fences this server: it stops serving, and
  // serves again only after registering anew and dropping the chunks that
  // moved on without it.
  Task<Status> Run(Event& stop, ChunkServer& server) {
    Executor ex = co_await asio::this_coro::executor;
    Backoff backoff;
    while (!stop.is_set()) {
      server.SetServing(false);
      auto lease = co_await etcd::LeaseKeeper::Start(
          client_, std::chrono::seconds(options_.lease_ttl_seconds));
      Status s = lease.status();
      if (s.ok()) s = co_await DropChunksMovedElsewhere();
      if (s.ok()) s = co_await Publish((*lease)->id());
      if (!s.ok()) {
        Log()->warn("registration failed, retrying: {}", s);
        if (lease.ok()) (co_await (*lease)->Revoke()).IgnoreError();
        co_await (stop.Wait() || SleepFor(backoff.Next()));
        continue;
      }
      backoff.Reset();
      server.SetServing(true);
      Log()->info("chunkserver {} serving address={} host={} rack={} data={}", info_.id,
                  info_.address, info_.host, info_.rack, options_.data_dir);
      TaskGroup tasks(ex);
      tasks.Spawn("chunkserver report", ReportLoop(**lease));
      tasks.Spawn("chunkserver scrub", ScrubLoop());
      tasks.Spawn("chunkserver recovery", RecoveryLoop());
      co_await (stop.Wait() || (*lease)->lost().Wait());
      server.SetServing(false);
      tasks.CancelAll();
      co_await tasks.Join();
      if (stop.is_set()) {
        (co_await (*lease)->Revoke()).IgnoreError();
        break;
      }
      Log()->error("chunkserver {}: registration lease lost; not serving until registered again",
                   info_.id);
      co_await (*lease)->Stop();
    }
    co_return Status::Ok();
  }

  // Chunks kept here whose replica set no longer names this server (it was
  // cut off, or dead, and they were recovered elsewhere) go: they are stale.
  // A chunk whose version rose since the record was read (this server was
  // just made a recovery target) stays. A chunk record that does not decode
  // fails the whole step (and so the registration, retried): its chunk would
  // look unnamed and be dropped.
  Task<Status> DropChunksMovedElsewhere() {
    auto all = co_await client_.Get(std::string(kChunksPrefix), {.prefix = true});
    TG_CO_RETURN_IF_ERROR(all.status());
    auto state = ParseStorageState(all->kvs, all->revision);
    if (!state.ok()) {
      co_return state.status().Annotate("chunk records unreadable, keeping every chunk here");
    }
    const auto& records = state->chunks;
    size_t dropped = 0;
    for (uint64_t id : store_.ListChunks()) {
      auto it = records.find(id);
      if (it != records.end() && it->second.record.Has(info_.id)) continue;
      const uint32_t seen = it == records.end() ? UINT32_MAX : it->second.record.version;
      if (store_.VersionOf(id) > seen) continue;
      TG_CO_RETURN_IF_ERROR(co_await store_.Delete(id));
      ++dropped;
    }
    if (dropped) Log()->warn("dropped {} chunks that moved on while this server was away", dropped);
    co_return Status::Ok();
  }

  ChunkserverInfo info_;

 private:
  ChunkserverInfo Snapshot() const {
    ChunkserverInfo i = info_;
    StoreUsage u = store_.Usage();
    i.capacity_bytes = u.capacity_bytes;
    i.free_bytes = u.free_bytes;
    i.chunks = u.chunks;
    i.corrupt_chunks.assign(corrupt_.begin(), corrupt_.end());
    return i;
  }

 public:
  Task<Status> Publish(etcd::LeaseId lease) {
    auto put = co_await client_.Put(ChunkserverKey(info_.id), Encode(Snapshot()), {.lease = lease});
    co_return put.status();
  }

 private:
  Task<void> ReportLoop(etcd::LeaseKeeper& lease) {
    for (;;) {
      if (!co_await SleepFor(std::chrono::milliseconds(options_.report_interval_ms))) co_return;
      if (Status s = co_await Publish(lease.id()); !s.ok()) {
        Log()->warn("capacity report failed: {}", s);
      }
    }
  }

  Task<void> ScrubLoop() {
    for (;;) {
      auto bad = co_await store_.Scrub();
      std::set<uint64_t> now(bad.begin(), bad.end());
      // Chunks repaired (deleted and refilled) since drop off the list.
      for (auto it = corrupt_.begin(); it != corrupt_.end();) {
        it = now.count(*it) ? std::next(it) : corrupt_.erase(it);
      }
      for (uint64_t id : bad) {
        if (corrupt_.insert(id).second) Log()->error("scrub: chunk {:016x} has a bad block", id);
      }
      if (!co_await SleepFor(std::chrono::seconds(options_.scrub_interval_seconds))) co_return;
    }
  }

  // Watches this server's task list; runs each new task once.
  Task<void> RecoveryLoop() {
    // Cancellation ends the loop through the statuses below, not by a throw:
    // a throw would unwind past the copies still running (they must be
    // cancelled and joined first).
    co_await asio::this_coro::throw_if_cancelled(false);
    Executor ex = co_await asio::this_coro::executor;
    TaskGroup copies(ex);
    latest_.clear();  // this round reads every task afresh
    const std::string prefix = TasksOfServerPrefix(info_.id);
    for (;;) {
      auto current = co_await client_.Get(prefix, {.prefix = true});
      if (!current.ok()) {
        if (!co_await SleepFor(1s)) break;
        continue;
      }
      for (const auto& kv : current->kvs) StartTask(copies, kv);
      etcd::Watcher watch(client_, prefix,
                          {.prefix = true, .start_revision = current->revision + 1});
      for (;;) {
        auto batch = co_await watch.Next();
        if (!batch.ok()) break;  // cancelled, or compacted: re-read
        for (const auto& e : batch->events) {
          if (e.type == etcd::WatchEvent::Type::kPut) {
            StartTask(copies, e.kv);
          } else {
            latest_.erase(e.kv.key);  // withdrawn: a running copy gives up
          }
        }
      }
      if (co_await IsCancelled()) break;
    }
    copies.CancelAll();
    co_await copies.Join();
  }

  void StartTask(TaskGroup& copies, const etcd::KeyValue& kv) {
    auto task = DecodeTask(kv.value);
    if (!task.ok()) {
      // Acting on it could only copy the wrong thing; it waits for a fixed
      // record (the master rewrites tasks whenever the set changes).
      Log()->error("not running task {}: {}", kv.key, task.status());
      return;
    }
    latest_[kv.key] = {*task, kv.mod_revision};
    if (task->done || running_.count(kv.key)) return;
    running_.insert(kv.key);
    copies.Spawn("recovery copy", Copy(kv.key, kv.mod_revision, *task));
  }

  // Fills the chunk here from its healthy replicas (see CopyChunk), then
  // marks the task done. Runs until the task is done or gone: a failed copy
  // (a source went away, the replica set moved on, etcd did not answer) is
  // tried again with the task as the watch last delivered it (the master
  // rewrites it when the set changes).
  Task<void> Copy(std::string key, int64_t revision, RecoveryTask task) {
    // Cancellation (the registration lapsed) ends the copy through the
    // statuses below: a throw would skip closing the source connections.
    co_await asio::this_coro::throw_if_cancelled(false);
    // The key is in running_ exactly as long as this copy runs.
    struct Running {
      std::set<std::string>& set;
      std::string key;
      ~Running() { set.erase(key); }
    } running{running_, key};
    Executor ex = co_await asio::this_coro::executor;
    const auto started = Clock::now();
    for (;;) {
      Status s = co_await CopyChunk(ex, task);
      if (co_await IsCancelled()) co_return;
      if (s.ok()) {
        RecoveryTask done = task;
        done.done = true;
        etcd::Txn txn;
        txn.compares.push_back(
            etcd::Compare::ModRevision(key, etcd::Compare::Op::kEqual, revision));
        txn.then.push_back(etcd::TxnOp::Put(key, Encode(done)));
        auto r = co_await client_.Commit(std::move(txn));
        if (r.ok() && r->succeeded) {
          Log()->info("recovered chunk {:016x} in {} ms", task.chunk_id,
                      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started)
                          .count());
          co_return;
        }
        s = r.ok() ? Aborted("the task changed meanwhile") : r.status();
      }
      Log()->warn("recovery of chunk {:016x} failed, trying again: {}", task.chunk_id, s);
      if (co_await IsCancelled() || !co_await SleepFor(1s)) co_return;
      // The task as the watch last delivered it; gone if withdrawn.
      auto latest = latest_.find(key);
      if (latest == latest_.end() || latest->second.first.done) co_return;
      task = latest->second.first;
      revision = latest->second.second;
    }
  }

  // Connects to the task's sources and fills the chunk from them; the
  // connections are closed whatever happened.
  Task<Status> CopyChunk(Executor ex, const RecoveryTask& task) {
    std::vector<std::unique_ptr<ChunkClient>> sources;
    Status result = co_await CopyFromSources(ex, task, sources);
    for (auto& src : sources) co_await src->Close();
    co_return result;
  }

  // 1 MiB at a time, trying each source in turn for every piece.
  Task<Status> CopyFromSources(Executor ex, const RecoveryTask& task,
                               std::vector<std::unique_ptr<ChunkClient>>& sources) {
    const Stamp stamp{0, task.version};  // epoch 0: the recovery copy (see ChunkStore::Fill)
    for (const auto& address : task.sources) {
      auto c = co_await ChunkClient::Connect(ex, address);
      if (!c.ok()) continue;
      // From now on the source turns away writers that do not know this
      // replica is a member: every write it accepts also comes here.
      if (Status v = co_await (*c)->SetVersion(task.chunk_id, task.version); !v.ok()) {
        (co_await (*c)->Close());
        continue;
      }
      sources.push_back(std::move(*c));
    }
    if (sources.empty()) co_return Unavailable("no source reachable");
    TG_CO_RETURN_IF_ERROR(store_.SetVersion(task.chunk_id, task.version));
    constexpr uint32_t kPiece = 1 << 20;
    std::vector<uint8_t> buf(kPiece);
    Status result;
    for (uint64_t off = 0; off < kChunkSize && result.ok(); off += kPiece) {
      if (co_await IsCancelled()) co_return Cancelled("recovery cancelled");
      Status got = Unavailable("no source");
      for (auto& src : sources) {
        got = co_await src->Read(task.chunk_id, stamp, static_cast<uint32_t>(off), buf);
        if (got.ok()) break;
      }
      if (!got.ok()) {
        result = got;
        break;
      }
      result = co_await store_.Fill(task.chunk_id, stamp, static_cast<uint32_t>(off), buf);
      // The rate limit: a recovery must not starve the guests' I/O.
      const auto pause = std::chrono::nanoseconds(
          kPiece * 1'000'000'000ull / std::max<uint64_t>(options_.recovery_bytes_per_second, 1));
      if (!co_await SleepFor(pause)) result = Cancelled("recovery cancelled");
    }
    co_return result;
  }

  etcd::Client& client_;
  ChunkserverOptions options_;
  ChunkStore& store_;
  std::set<uint64_t> corrupt_;
  std::set<std::string> running_;
  std::map<std::string, std::pair<RecoveryTask, int64_t>> latest_;  // key -> (task, revision)
};

}  // namespace

Task<Status> RunChunkserver(etcd::Client& client, ChunkserverOptions options, Event& stop) {
  Executor ex = co_await asio::this_coro::executor;
  if (options.data_dir.empty()) co_return InvalidArgument("chunkserver: --data is required");
  TG_CO_ASSIGN_OR_RETURN(auto listen, ParseHostPort(options.listen));
  TG_CO_RETURN_IF_ERROR(co_await client.CheckReachable());
  TG_CO_ASSIGN_OR_RETURN(auto store, co_await ChunkStore::Open(ex, options.data_dir));
  ChunkServer server(ex, *store);
  server.SetServing(false);  // until registered
  Status result = server.Listen(listen.first, listen.second);
  if (result.ok()) {
    Agent agent(client, options, *store);
    agent.info_.id = store->server_id();
    agent.info_.address = options.advertise.empty()
                              ? fmt::format("{}:{}", listen.first, server.port())
                              : options.advertise;
    agent.info_.host = options.host.empty() ? agent.info_.id : options.host;
    agent.info_.rack = options.rack;
    TaskGroup serving(ex);
    serving.Spawn("chunk data port", server.Run());
    result = co_await agent.Run(stop, server);
    co_await server.Stop();
    co_await serving.Join();
  }
  co_await store->Close();
  Log()->info("chunkserver stopped");
  co_return result;
}

}  // namespace tg::storage
