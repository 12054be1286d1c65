#include "storage_cluster.h"

#include <gtest/gtest.h>

#include <csignal>
#include <deque>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "storage/common/chunk_client.h"
#include "storage/common/crc32c.h"
#include "storage/common/protocol.h"
#include "storage/common/storage_state.h"

namespace tg::testing {

using namespace tg::storage;

StorageCluster::StorageCluster(asio::io_context& io, int servers, int chunkservers,
                               std::vector<std::string> chunkserver_flags,
                               std::string etcd_extra_host, std::string chunkserver_host)
    : io_(io), etcd_(io, 1, etcd_extra_host), chunkserver_flags_(std::move(chunkserver_flags)) {
  auto c = etcd::Client::Create(io.get_executor(), {.endpoints = etcd_.urls()});
  if (!c.ok()) throw std::runtime_error(c.status().ToString());
  client_ = std::move(*c);
  servers_.resize(servers);
  chunkservers_.resize(chunkservers);
  placements_.resize(chunkservers, Placement{{}, chunkserver_host + ":0", etcd_url()});
  for (int i = 0; i < servers; ++i) StartServer(i);
  for (int i = 0; i < chunkservers; ++i) StartChunkserver(i);
}

namespace {

// The end of a process's log, for the report of a failed test (the test
// directory goes with the test).
void PrintTail(const std::string& path, size_t lines) {
  std::ifstream f(path);
  if (!f) return;
  std::deque<std::string> tail;
  for (std::string line; std::getline(f, line);) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  fmt::print(stderr, "---- last {} lines of {}\n", tail.size(), path);
  for (const auto& line : tail) fmt::print(stderr, "{}\n", line);
}

}  // namespace

StorageCluster::~StorageCluster() {
  for (auto& p : chunkservers_)
    if (p) (void)p->Stop(5s);
  for (auto& p : servers_)
    if (p) (void)p->Stop(5s);
  if (::testing::Test::HasFailure()) {
    for (size_t i = 0; i < servers_.size(); ++i) PrintTail(ServerLog(static_cast<int>(i)), 40);
    for (size_t i = 0; i < chunkservers_.size(); ++i) {
      PrintTail(ChunkserverLog(static_cast<int>(i)), 40);
    }
  }
}

std::string StorageCluster::ServerLog(int i) const {
  return fmt::format("{}/server{}.log", dir(), i);
}
std::string StorageCluster::ChunkserverLog(int i) const {
  return fmt::format("{}/chunkserver{}.log", dir(), i);
}
std::string StorageCluster::ChunkserverDataDir(int i) const {
  return fmt::format("{}/cs{}", dir(), i);
}

void StorageCluster::StartServer(int i) {
  auto p = ChildProcess::Spawn({.argv = {TiangongBinary(), "server", "--etcd", etcd_url(), "--name",
                                         fmt::format("server{}", i), "--lease-ttl", "2"},
                                .output_path = ServerLog(i)});
  if (!p.ok()) throw std::runtime_error(p.status().ToString());
  servers_[i] = std::move(*p);
}

void StorageCluster::KillServer(int i) {
  (void)servers_[i]->Signal(SIGKILL);
  (void)servers_[i]->Wait(10s);
  servers_[i].reset();
}

int StorageCluster::AddChunkserver(std::vector<std::string> prefix, std::string listen,
                                   std::string etcd_url) {
  placements_.push_back({std::move(prefix), std::move(listen), std::move(etcd_url)});
  chunkservers_.emplace_back();
  const int i = static_cast<int>(chunkservers_.size()) - 1;
  StartChunkserver(i);
  return i;
}

void StorageCluster::StartChunkserver(int i) {
  const Placement& where = placements_[i];
  std::vector<std::string> argv = where.prefix;
  for (std::string a : {TiangongBinary(), std::string("chunkserver"), std::string("--etcd"),
                        where.etcd_url, std::string("--data"), ChunkserverDataDir(i),
                        std::string("--listen"), where.listen, std::string("--host"),
                        fmt::format("h{}", i), std::string("--lease-ttl"), std::string("2")}) {
    argv.push_back(std::move(a));
  }
  argv.insert(argv.end(), chunkserver_flags_.begin(), chunkserver_flags_.end());
  auto p = ChildProcess::Spawn({.argv = argv, .output_path = ChunkserverLog(i)});
  if (!p.ok()) throw std::runtime_error(p.status().ToString());
  chunkservers_[i] = std::move(*p);
}

void StorageCluster::KillChunkserver(int i) {
  (void)chunkservers_[i]->Signal(SIGKILL);
  (void)chunkservers_[i]->Wait(10s);
  chunkservers_[i].reset();
}

std::string StorageCluster::ChunkserverId(int i) const {
  std::ifstream f(ChunkserverDataDir(i) + "/server-id");
  std::string id;
  std::getline(f, id);
  return id;
}

Task<std::vector<int>> StorageCluster::Holders(uint64_t chunk_id) {
  std::vector<int> out;
  auto got = co_await client_->Get(ChunkKey(chunk_id));
  if (!got.ok() || got->kvs.empty()) co_return out;
  auto chunk = DecodeChunk(got->kvs[0].value);
  for (size_t i = 0; i < chunkservers_.size() && chunk.ok(); ++i) {
    if (chunk->Has(ChunkserverId(static_cast<int>(i)))) out.push_back(static_cast<int>(i));
  }
  co_return out;
}

Task<int> StorageCluster::WaitForLeader(Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (!servers_[i]) continue;
      std::ifstream f(ServerLog(static_cast<int>(i)));
      std::stringstream s;
      s << f.rdbuf();
      const std::string text = s.str();
      // The last leadership line of a live server.
      auto lead = text.rfind("storage master leading");
      auto stop = text.rfind("storage master stopped");
      if (lead != std::string::npos && (stop == std::string::npos || stop < lead)) {
        co_return static_cast<int>(i);
      }
    }
    co_await SleepFor(100ms);
  }
  co_return -1;
}

Task<Status> StorageCluster::WaitRegistered(Duration timeout) {
  size_t running = 0;
  for (auto& p : chunkservers_) running += p ? 1 : 0;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto got = co_await client_->Get(std::string(kChunkserversPrefix), {.prefix = true});
    if (got.ok() && got->kvs.size() >= running) co_return Status::Ok();
    co_await SleepFor(100ms);
  }
  co_return Status(ErrorCode::kDeadlineExceeded, "chunkservers did not all register");
}

Status StorageCluster::CreateVolume(const std::string& name, const std::string& size) {
  // Placement happens at creation: every chunkserver should be a candidate.
  if (Status s = RunTask(io_, WaitRegistered(30s)); !s.ok()) return s;
  return RunTask(io_, Cli(fmt::format("volume create {} --size {}", name, size)));
}

Task<Status> StorageCluster::Cli(std::string line) {
  static int runs = 0;
  const std::string log = fmt::format("{}/cli{}.log", dir(), runs++);
  std::vector<std::string> args{TiangongBinary()};
  std::istringstream words(line);
  for (std::string w; words >> w;) args.push_back(w);
  args.push_back("--etcd");
  args.push_back(etcd_url());
  auto p = ChildProcess::Spawn({.argv = args, .output_path = log});
  TG_CO_RETURN_IF_ERROR(p.status());
  Executor ex = co_await asio::this_coro::executor;
  TG_CO_RETURN_IF_ERROR(co_await p->AsyncWaitExit(ex));
  auto st = p->Wait(1s);
  if (st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) co_return Status::Ok();
  std::ifstream f(log);
  std::stringstream text;
  text << f.rdbuf();
  co_return Internal("tiangong {} failed ({}): {}", line,
                     st.ok() ? DescribeWaitStatus(*st) : st.status().ToString(), text.str());
}

Task<Status> StorageCluster::WaitHealthy(Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string why;
  while (Clock::now() < deadline) {
    auto all = co_await client_->Get(std::string(kStoragePrefix), {.prefix = true});
    if (all.ok()) {
      // A record that does not decode is a failure of the test, not a wait.
      auto st = ParseStorageState(all->kvs, all->revision);
      if (!st.ok()) co_return st.status();
      std::set<std::string> live;  // registered, with nothing the scrubber found
      for (const auto& [id, s] : st->servers) {
        if (s.corrupt_chunks.empty()) live.insert(id);
      }
      why.clear();
      for (const auto& [id, c] : st->chunks) {
        size_t ok = 0;
        for (const auto& r : c.record.replicas)
          if (r.state == ReplicaState::kHealthy && live.count(r.server)) ++ok;
        if (ok != kReplicas || c.record.replicas.size() != kReplicas) {
          why = fmt::format("chunk {:016x} has {} healthy replicas of {}", id, ok,
                            c.record.replicas.size());
          break;
        }
      }
      size_t tasks = 0;
      for (const auto& [id, t] : st->tasks) tasks += t.size();
      if (why.empty() && tasks) why = fmt::format("{} recovery tasks left", tasks);
      if (why.empty()) co_return Status::Ok();
    }
    co_await SleepFor(200ms);
  }
  co_return Status(ErrorCode::kDeadlineExceeded, "not healthy: " + why);
}

Task<Status> StorageCluster::WaitForRecoveryTask(Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto tasks = co_await client_->Get(std::string(kTasksPrefix), {.prefix = true});
    if (tasks.ok() && !tasks->kvs.empty()) co_return Status::Ok();
    co_await SleepFor(50ms);
  }
  co_return DeadlineExceeded("no recovery task appeared");
}

Task<Status> StorageCluster::CheckReplicasIdentical(const std::string& volume) {
  Executor ex = co_await asio::this_coro::executor;
  auto v = co_await client_->Get(VolumeKey(volume));
  if (!v.ok() || v->kvs.empty()) co_return NotFound("volume {}", volume);
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo info, DecodeVolume(v->kvs[0].value));
  auto chunks = co_await client_->Get(ChunksOfVolumePrefix(info.number), {.prefix = true});
  auto servers = co_await client_->Get(std::string(kChunkserversPrefix), {.prefix = true});
  TG_CO_RETURN_IF_ERROR(chunks.status());
  TG_CO_RETURN_IF_ERROR(servers.status());
  std::map<std::string, std::string> address;
  for (const auto& kv : servers->kvs) {
    if (auto s = DecodeChunkserver(kv.value); s.ok()) address[s->id] = s->address;
  }
  for (const auto& kv : chunks->kvs) {
    TG_CO_ASSIGN_OR_RETURN(ChunkInfo c, DecodeChunk(kv.value));
    std::optional<std::vector<uint32_t>> first;
    for (const auto& r : c.replicas) {
      // A recovering replica is being filled: it matches once it is healthy.
      if (r.state != ReplicaState::kHealthy) continue;
      if (!address.count(r.server)) co_return Unavailable("replica on {} is gone", r.server);
      TG_CO_ASSIGN_OR_RETURN(auto client, co_await ChunkClient::Connect(ex, address[r.server]));
      auto crcs = co_await client->BlockCrcs(c.chunk_id);
      co_await client->Close();
      TG_CO_RETURN_IF_ERROR(crcs.status());
      for (auto& crc : *crcs) crc = EffectiveBlockCrc(crc);
      if (!first) {
        first = *crcs;
      } else if (*first != *crcs) {
        size_t b = 0;
        while ((*first)[b] == (*crcs)[b]) ++b;
        co_return Status(ErrorCode::kDataLoss,
                         fmt::format("chunk {:016x}: replica on {} differs at block {}", c.chunk_id,
                                     r.server, b));
      }
    }
  }
  co_return Status::Ok();
}

WriteChecker::WriteChecker(uint64_t volume_size) : generation_(volume_size / kBlockSize, 0) {}

void WriteChecker::Fill(uint64_t block, uint32_t generation, std::span<uint8_t> out) {
  uint64_t x = block * 0x9E3779B97F4A7C15ull ^ (uint64_t{generation} << 32 | generation);
  for (size_t i = 0; i < out.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, std::min<size_t>(8, out.size() - i));
  }
}

Task<void> WriteChecker::Writer(volume::Volume& v, uint64_t start, uint64_t length, uint32_t seed,
                                Event& stop) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> buf(64 << 10);
  uint32_t generation = seed << 20;
  while (!stop.is_set()) {
    const uint64_t blocks = 1 + rng() % 16;
    const uint64_t first = start / kBlockSize + rng() % (length / kBlockSize - blocks + 1);
    ++generation;
    for (uint64_t b = 0; b < blocks; ++b) {
      Fill(first + b, generation, std::span(buf.data() + b * kBlockSize, kBlockSize));
    }
    Status s = co_await v.Write(first * kBlockSize, std::span(buf.data(), blocks * kBlockSize));
    if (!s.ok()) {
      failures_.push_back(s);
      co_return;
    }
    ++acknowledged_;
    for (uint64_t b = 0; b < blocks; ++b) generation_[first + b] = generation;
  }
}

Task<void> WriteChecker::Run(volume::Volume& v, int writers, Duration duration,
                             Duration fault_after, std::function<Task<void>()> during) {
  Executor ex = co_await asio::this_coro::executor;
  Event stop(ex);
  TaskGroup group(ex);
  const uint64_t region = generation_.size() / writers * kBlockSize;
  for (int i = 0; i < writers; ++i) {
    group.Spawn("checker writer",
                Writer(v, i * region, region, static_cast<uint32_t>(i + 1), stop));
  }
  co_await SleepFor(fault_after);
  if (during) co_await during();
  co_await SleepFor(duration - fault_after);
  stop.Set();
  co_await group.Join();
}

Task<Status> WriteChecker::Verify(volume::Volume& v) {
  std::vector<uint8_t> got(1 << 20), want(kBlockSize);
  for (uint64_t off = 0; off < generation_.size() * kBlockSize; off += got.size()) {
    TG_CO_RETURN_IF_ERROR(co_await v.Read(off, got));
    for (size_t i = 0; i < got.size() / kBlockSize; ++i) {
      const uint64_t block = off / kBlockSize + i;
      if (generation_[block] == 0) {
        std::fill(want.begin(), want.end(), 0);
      } else {
        Fill(block, generation_[block], want);
      }
      if (std::memcmp(got.data() + i * kBlockSize, want.data(), kBlockSize) != 0) {
        co_return Status(ErrorCode::kDataLoss,
                         fmt::format("block {} does not hold its last acknowledged write "
                                     "(generation {})",
                                     block, generation_[block]));
      }
    }
  }
  co_return Status::Ok();
}

}  // namespace tg::testing
