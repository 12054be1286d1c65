#include "storage/master/master.h"

#include <set>

#include "base/log.h"
#include "storage/common/chunk_client.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"
#include "storage/common/storage_state.h"
#include "storage/master/placement.h"

namespace tg::storage {

namespace {

auto Log() {
  static auto log = log::Get("master");
  return log;
}

constexpr size_t kOpsPerTxn = 64;  // etcd refuses transactions over 128 operations

}  // namespace

// Everything under the storage prefix, as read at one revision (servers: the
// live ones, their lease holds), and what a pass derives from it.
struct Master::State : StorageState {
  explicit State(StorageState records) : StorageState(std::move(records)) {}
  std::vector<ChunkserverInfo> live;
  std::set<std::pair<uint64_t, std::string>> failed;  // (chunk, server) reported or corrupt
  std::map<std::string, uint64_t> load;               // replicas per server
  size_t tasks_running = 0;
  std::map<std::string, int> tasks_per_server;
  std::vector<Copyset> copysets;
  std::map<uint64_t, std::string> moves;  // rebalancing: chunk -> server to add
};

Master::Master(etcd::Client& client, etcd::Mirror& state, etcd::Compare leadership,
               MasterOptions options)
    : client_(client), state_(state), leadership_(std::move(leadership)), options_(options) {}

Master::~Master() = default;

Task<Result<etcd::TxnResult>> Master::Commit(etcd::Txn txn) {
  // The refused branch reads the candidate key, to tell a lost term from a
  // record that changed meanwhile.
  txn.compares.push_back(leadership_);
  txn.otherwise.push_back(etcd::TxnOp::Get(leadership_.key));
  TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult r, co_await client_.Commit(std::move(txn)));
  if (r.succeeded) {
    last_write_ = std::max(last_write_, r.revision);
    co_return r;
  }
  const std::vector<etcd::KeyValue>& key = r.gets.back().kvs;
  if (key.empty() || key[0].create_revision != leadership_.number) {
    term_over_ = true;
    co_return FailedPrecondition("write refused: this master's term is over ({} is gone)",
                                 leadership_.key);
  }
  co_return r;
}

void Master::ReportFailedPass(const Status& s) {
  const std::string text = s.ToString();
  if (text == last_reported_ && Clock::now() - last_reported_at_ < std::chrono::minutes(1)) {
    Log()->debug("reconcile: {}", s);
    return;
  }
  last_reported_ = text;
  last_reported_at_ = Clock::now();
  Log()->error("reconcile: {}", s);
}

Task<void> Master::Lead(Event& stop) {
  Event& changed = state_.changed();
  Log()->info("storage master leading (state copy at revision {})", state_.revision());
  while (!stop.is_set() && !term_over_) {
    changed.Reset();
    if (Status s = co_await ReconcileOnce(); !s.ok()) {
      ReportFailedPass(s);
    } else {
      last_reported_.clear();
    }
    co_await (changed.Wait() || SleepFor(1s) || stop.Wait());
    if (!stop.is_set()) co_await SleepFor(std::chrono::milliseconds(20));  // gather a burst
  }
  for (auto& [address, c] : connections_)
    if (c) co_await c->Close();
  connections_.clear();
  Log()->info("storage master stopped");
}

Task<Status> Master::ReconcileOnce() {
  if (term_over_) co_return FailedPrecondition("this master's term is over");
  // The copy must hold this master's own last writes, or the pass would
  // redo them (harmlessly: every write is conditioned on what was read).
  if (!co_await state_.WaitFor(last_write_, std::chrono::seconds(2))) {
    // A write that changed nothing under the prefix never shows up in the
    // watch: go on with the copy as it is (every write is conditioned on
    // what was read, so an old copy changes nothing).
    Log()->warn("state copy at revision {}, not yet at {}: reconciling from it", state_.revision(),
                last_write_);
  }
  last_write_ = 0;
  if (!state_.loaded()) co_return Unavailable("the state copy is not loaded yet");
  // All or nothing: acting on the records that decoded would take the others
  // for absent (and free the layers of a volume it could not read).
  auto records = ParseStorageState(state_.kvs(), state_.revision());
  if (!records.ok()) {
    co_return records.status().Annotate(
        "storage records unreadable, this pass changes nothing until the record is fixed");
  }
  State st(*std::move(records));
  for (const auto& [id, s] : st.servers) st.live.push_back(s);
  for (const auto& [chunk, reports] : st.reports)
    for (const auto& r : reports) st.failed.insert({chunk, r.server});
  for (const auto& [chunk, tasks] : st.tasks) {
    for (const auto& t : tasks) {
      if (t.task.done) continue;
      ++st.tasks_running;
      ++st.tasks_per_server[t.server];
    }
  }
  for (const auto& [id, s] : st.servers)
    for (uint64_t c : s.corrupt_chunks) st.failed.insert({c, id});
  for (const auto& [id, c] : st.chunks)
    for (const auto& r : c.record.replicas) ++st.load[r.server];
  st.copysets = BuildCopysets(st.live, kReplicas, options_.scatter_width);

  Status result;
  std::vector<std::string> names;
  for (const auto& [name, v] : st.volumes) names.push_back(name);
  for (const auto& name : names) {
    const VolumeInfo v = st.volumes[name].record;
    Status s;
    if (v.state == VolumeState::kDeleting) {
      s = co_await DeleteVolume(st, name);
    } else if (!v.snapshot) {
      s = co_await PlaceLayer(st, name, v.number);
      if (s.ok() && v.next_number) s = co_await PlaceLayer(st, name, v.next_number);
    }
    if (term_over_) co_return s;
    if (!s.ok()) result = s;
  }
  if (Status s = co_await CollectUnreferencedLayers(st); !s.ok()) {
    if (term_over_) co_return s;
    result = s;
  }
  PlanRebalancing(st);
  std::set<uint64_t> touched;
  for (const auto& [id, c] : st.chunks) touched.insert(id);
  for (const auto& [id, t] : st.tasks) touched.insert(id);
  for (const auto& [id, r] : st.reports) touched.insert(id);
  for (uint64_t id : touched) {
    if (Status s = co_await ReconcileChunk(st, id); !s.ok()) {
      if (term_over_) co_return s;
      result = s;
    }
  }
  co_return result;
}

// Places the chunks a layer of the volume lacks (all of them for a new
// volume or snapshot layer; the new ones after a resize), in batches, each
// conditioned on the volume record being the one read.
Task<Status> Master::PlaceLayer(State& st, const std::string& name, uint64_t number) {
  auto& [volume, revision] = st.volumes[name];
  const uint32_t count = volume.chunk_count();
  std::vector<ChunkInfo> placed;
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t id = MakeChunkId(number, i);
    if (st.chunks.count(id)) continue;
    Copyset c = PickCopyset(st.copysets, st.load);
    if (c.empty()) {
      co_return Unavailable("volume {}: not enough chunkservers on distinct hosts ({} live)", name,
                            st.live.size());
    }
    ChunkInfo chunk{.chunk_id = id, .version = 1, .replicas = {}};
    for (const auto& server : c) {
      chunk.replicas.push_back({server, ReplicaState::kHealthy});
      ++st.load[server];
    }
    placed.push_back(std::move(chunk));
  }
  const bool make_available = volume.state == VolumeState::kCreating && number == volume.number;
  if (placed.empty() && !make_available) co_return Status::Ok();
  for (size_t start = 0; start <= placed.size(); start += kOpsPerTxn) {
    etcd::Txn txn;
    txn.compares.push_back(
        etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual, revision));
    for (size_t i = start; i < std::min(placed.size(), start + kOpsPerTxn); ++i) {
      txn.then.push_back(etcd::TxnOp::Put(ChunkKey(placed[i].chunk_id), Encode(placed[i])));
    }
    const bool last = start + kOpsPerTxn > placed.size();
    if (last && make_available) {
      VolumeInfo ready = volume;
      ready.state = VolumeState::kAvailable;
      txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(ready)));
    }
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (!r.succeeded) co_return Status::Ok();  // changed meanwhile: the next pass sees it
    for (size_t i = start; i < std::min(placed.size(), start + kOpsPerTxn); ++i) {
      st.chunks[placed[i].chunk_id] = {placed[i], r.revision};
    }
    if (last) break;
  }
  Log()->info("volume {}: layer {} has {} new chunks{}", name, number, placed.size(),
              make_available ? "; available" : "");
  co_return Status::Ok();
}

// The record goes; its layers go when no other record names them (GC).
Task<Status> Master::DeleteVolume(State& st, const std::string& name) {
  auto& [volume, revision] = st.volumes[name];
  etcd::Txn txn;
  txn.compares.push_back(
      etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual, revision));
  txn.then.push_back(etcd::TxnOp::Delete(VolumeKey(name)));
  txn.then.push_back(etcd::TxnOp::Delete(AttachKey(name)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
  if (r.succeeded) {
    Log()->info("volume {} deleted", name);
    st.volumes.erase(name);
  }
  co_return Status::Ok();
}

// Chunks of layers that no volume or snapshot names any more: their records,
// then their data on every live replica. Record first: a master whose term
// ended meanwhile is refused there and deletes no data; data left behind by a
// crash between the two goes when its chunkserver next registers (it drops
// chunks no record names).
Task<Status> Master::CollectUnreferencedLayers(State& st) {
  std::set<uint64_t> referenced;
  for (const auto& [name, v] : st.volumes)
    for (uint64_t layer : v.record.layers()) referenced.insert(layer);
  std::set<uint64_t> freed;
  for (auto it = st.chunks.begin(); it != st.chunks.end();) {
    const auto& [id, c] = *it;
    if (referenced.count(VolumeOf(id))) {
      ++it;
      continue;
    }
    etcd::Txn txn;
    txn.compares.push_back(
        etcd::Compare::ModRevision(ChunkKey(id), etcd::Compare::Op::kEqual, c.mod_revision));
    txn.then.push_back(etcd::TxnOp::Delete(ChunkKey(id)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) {
      for (const auto& replica : c.record.replicas) {
        if (auto s = st.servers.find(replica.server); s != st.servers.end()) {
          (co_await DeleteChunkOn(s->second.address, id)).IgnoreError();
        }
      }
      freed.insert(VolumeOf(id));
    }
    it = st.chunks.erase(it);
  }
  for (uint64_t layer : freed) Log()->info("layer {} freed: nothing refers to it", layer);
  co_return Status::Ok();
}

Task<Status> Master::ReconcileChunk(State& st, uint64_t chunk_id) {
  etcd::Txn txn;
  auto it = st.chunks.find(chunk_id);
  if (it == st.chunks.end()) {
    // The chunk is gone (its volume was deleted): so are its tasks and reports.
    for (const auto& t : st.tasks[chunk_id]) txn.then.push_back(etcd::TxnOp::Delete(t.key));
    for (const auto& r : st.reports[chunk_id]) txn.then.push_back(etcd::TxnOp::Delete(r.key));
    if (!txn.then.empty()) TG_CO_RETURN_IF_ERROR((co_await Commit(std::move(txn))).status());
    co_return Status::Ok();
  }
  const auto& [current, revision] = it->second;
  ChunkInfo next = current;
  bool membership_changed = false, changed = false;
  // Live servers whose copy goes once the new set is committed (a member
  // that left, or one dropped by rebalancing): after, so that a master whose
  // term ended, refused at the commit, deletes nothing.
  std::vector<std::string> wipe_after_commit;

  // Finished copies: the replica becomes healthy.
  for (const auto& t : st.tasks[chunk_id]) {
    bool keep_task = !t.task.done && st.servers.count(t.server) && next.Has(t.server);
    if (t.task.done) {
      for (auto& r : next.replicas) {
        if (r.server == t.server && r.state == ReplicaState::kRecovering &&
            t.task.version <= next.version) {
          r.state = ReplicaState::kHealthy;
          changed = true;
          Log()->info("chunk {:016x}: replica on {} recovered", chunk_id, t.server);
        }
      }
    }
    if (!keep_task) txn.then.push_back(etcd::TxnOp::Delete(t.key));
  }

  // Members that are gone or bad leave, but never the last healthy copy.
  auto bad = [&](const Replica& r) {
    return !st.servers.count(r.server) || st.failed.count({chunk_id, r.server});
  };
  size_t good_healthy = 0;
  for (const auto& r : next.replicas)
    if (r.state == ReplicaState::kHealthy && !bad(r)) ++good_healthy;
  std::vector<Replica> kept;
  for (const auto& r : next.replicas) {
    if (bad(r) && (r.state == ReplicaState::kRecovering || good_healthy > 0)) {
      Log()->warn("chunk {:016x}: replica on {} leaves the set ({})", chunk_id, r.server,
                  st.servers.count(r.server) ? "reported failed" : "chunkserver gone");
      membership_changed = true;
      --st.load[r.server];
      // A corrupt copy on a live server goes, so it can be refilled later.
      wipe_after_commit.push_back(r.server);
      continue;
    }
    kept.push_back(r);
  }
  next.replicas = kept;
  for (const auto& r : st.reports[chunk_id]) txn.then.push_back(etcd::TxnOp::Delete(r.key));

  // Too few members: add one per pass, within the recovery budget.
  std::vector<std::string> sources;
  for (const auto& r : next.replicas) {
    if (r.state == ReplicaState::kHealthy) sources.push_back(st.servers[r.server].address);
  }
  while (static_cast<int>(next.replicas.size()) < kReplicas && !sources.empty() &&
         st.tasks_running < static_cast<size_t>(options_.max_tasks)) {
    std::vector<std::string> members;
    for (const auto& r : next.replicas) members.push_back(r.server);
    std::vector<ChunkserverInfo> candidates;
    for (const auto& s : st.live) {
      if (st.tasks_per_server[s.id] < options_.max_tasks_per_server &&
          !st.failed.count({chunk_id, s.id})) {
        candidates.push_back(s);
      }
    }
    std::string target = PickRecoveryTarget(st.copysets, candidates, members, st.load);
    if (target.empty()) break;
    // Whatever an earlier membership left there must not survive the fill.
    if (!(co_await WipeBeforeFill(st, chunk_id, revision, target)).ok()) break;
    next.replicas.push_back({target, ReplicaState::kRecovering});
    membership_changed = true;
    ++st.load[target];
    ++st.tasks_running;
    ++st.tasks_per_server[target];
    RecoveryTask task{.chunk_id = chunk_id, .version = 0, .sources = sources, .done = false};
    task.version = next.version + 1;
    txn.then.push_back(etcd::TxnOp::Put(TaskKey(target, chunk_id), Encode(task)));
    Log()->info("chunk {:016x}: recovering a replica on {} from {} source(s)", chunk_id, target,
                sources.size());
  }
  // Rebalancing, step 1: a planned move adds a replica on a lightly loaded
  // server, recovered like any other.
  if (auto move = st.moves.find(chunk_id); move != st.moves.end() && !membership_changed &&
                                           !sources.empty() &&
                                           static_cast<int>(next.replicas.size()) == kReplicas) {
    const std::string& target = move->second;
    if ((co_await WipeBeforeFill(st, chunk_id, revision, target)).ok()) {
      next.replicas.push_back({target, ReplicaState::kRecovering});
      membership_changed = true;
      ++st.tasks_running;
      ++st.tasks_per_server[target];
      RecoveryTask task{
          .chunk_id = chunk_id, .version = next.version + 1, .sources = sources, .done = false};
      txn.then.push_back(etcd::TxnOp::Put(TaskKey(target, chunk_id), Encode(task)));
      Log()->info("chunk {:016x}: moving a replica to {} (rebalancing)", chunk_id, target);
    }
  }
  // Step 2: once the new replica is healthy, the chunk has one too many:
  // the one on the most loaded server goes.
  size_t healthy_now = 0;
  bool recovering_now = false;
  for (const auto& r : next.replicas) {
    if (r.state == ReplicaState::kHealthy) {
      ++healthy_now;
    } else {
      recovering_now = true;
    }
  }
  if (!membership_changed && !recovering_now && static_cast<int>(healthy_now) > kReplicas) {
    auto heaviest = next.replicas.begin();
    for (auto it = next.replicas.begin(); it != next.replicas.end(); ++it) {
      if (st.load[it->server] > st.load[heaviest->server]) heaviest = it;
    }
    const std::string dropped = heaviest->server;
    wipe_after_commit.push_back(dropped);
    --st.load[dropped];
    next.replicas.erase(heaviest);
    membership_changed = true;
    Log()->info("chunk {:016x}: replica on {} dropped (rebalanced)", chunk_id, dropped);
  }
  if (membership_changed) ++next.version;
  if (membership_changed || changed) {
    txn.then.push_back(etcd::TxnOp::Put(ChunkKey(chunk_id), Encode(next)));
  }
  // A copy still under way for a set that has changed since (a member left,
  // another joined) would be refused by its sources: it gets the new version
  // and sources, and its target starts again.
  std::vector<std::string> healthy_sources;
  for (const auto& r : next.replicas) {
    if (r.state == ReplicaState::kHealthy && st.servers.count(r.server)) {
      healthy_sources.push_back(st.servers[r.server].address);
    }
  }
  for (const auto& t : st.tasks[chunk_id]) {
    if (t.task.done || t.task.version >= next.version || !next.Has(t.server)) continue;
    if (healthy_sources.empty()) continue;
    RecoveryTask updated = t.task;
    updated.version = next.version;
    updated.sources = healthy_sources;
    txn.then.push_back(etcd::TxnOp::Put(t.key, Encode(updated)));
  }
  if (txn.then.empty()) co_return Status::Ok();
  txn.compares.push_back(
      etcd::Compare::ModRevision(ChunkKey(chunk_id), etcd::Compare::Op::kEqual, revision));
  TG_CO_ASSIGN_OR_RETURN(auto committed, co_await Commit(std::move(txn)));
  if (!committed.succeeded) co_return Status::Ok();
  for (const auto& server : wipe_after_commit) {
    if (auto s = st.servers.find(server); s != st.servers.end()) {
      (co_await DeleteChunkOn(s->second.address, chunk_id)).IgnoreError();
    }
  }
  co_return Status::Ok();
}

// The wipe must come before the task that names `target` (a copy must not
// land on leftovers), so it cannot wait for the commit: a fenced transaction
// with no operations first confirms this term still leads and the chunk is
// as read. That narrows, but does not close, the window of a master paused
// between the check and the wipe; chunkservers do not check a version on
// delete yet.
Task<Status> Master::WipeBeforeFill(State& st, uint64_t chunk_id, int64_t revision,
                                    const std::string& target) {
  etcd::Txn check;
  check.compares.push_back(
      etcd::Compare::ModRevision(ChunkKey(chunk_id), etcd::Compare::Op::kEqual, revision));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(check)));
  if (!r.succeeded) co_return Aborted("chunk {:016x} changed meanwhile", chunk_id);
  co_return co_await DeleteChunkOn(st.servers[target].address, chunk_id);
}

// Rebalancing: when the replicas per server differ by more than one (a
// chunkserver joined, or came back empty), plan a few moves from the most
// loaded servers to the least loaded, each to a server on a host none of
// the chunk's other members use. Only healthy chunks with nothing under way.
void Master::PlanRebalancing(State& st) {
  if (st.live.size() <= static_cast<size_t>(kReplicas)) return;
  std::map<std::string, uint64_t> load;
  for (const auto& s : st.live) load[s.id] = st.load[s.id];
  std::map<std::string, std::string> host;
  for (const auto& s : st.live) host[s.id] = s.host;
  size_t budget = std::min<size_t>(options_.max_moves,
                                   static_cast<size_t>(options_.max_tasks) -
                                       std::min<size_t>(st.tasks_running, options_.max_tasks));
  for (const auto& [id, c] : st.chunks) {
    if (budget == 0) break;
    if (st.tasks.count(id) || static_cast<int>(c.record.replicas.size()) != kReplicas) continue;
    bool all_healthy = true;
    for (const auto& r : c.record.replicas) {
      all_healthy &= r.state == ReplicaState::kHealthy && st.servers.count(r.server);
    }
    if (!all_healthy) continue;
    auto lightest = std::min_element(
        load.begin(), load.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    std::string heavy;
    for (const auto& r : c.record.replicas) {
      if (heavy.empty() || load[r.server] > load[heavy]) heavy = r.server;
    }
    if (c.record.Has(lightest->first) || load[heavy] <= lightest->second + 1) continue;
    if (st.tasks_per_server[lightest->first] >= options_.max_tasks_per_server) continue;
    bool host_free = true;
    for (const auto& r : c.record.replicas) {
      if (r.server != heavy && host[r.server] == host[lightest->first]) host_free = false;
    }
    if (!host_free) continue;
    st.moves[id] = lightest->first;
    ++load[lightest->first];
    --load[heavy];
    --budget;
  }
}

Task<Status> Master::DeleteChunkOn(const std::string& address, uint64_t chunk_id) {
  Executor ex = co_await asio::this_coro::executor;
  auto& c = connections_[address];
  if (!c || c->broken()) {
    if (c) co_await c->Close();
    auto made = co_await ChunkClient::Connect(ex, address, options_.chunk_timeout);
    if (!made.ok()) {
      c.reset();
      co_return made.status();
    }
    c = std::move(*made);
  }
  co_return co_await c->Delete(chunk_id);
}

}  // namespace tg::storage
