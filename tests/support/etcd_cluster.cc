#include "support/etcd_cluster.h"

#include <csignal>

namespace tg::testing {

EtcdCluster::EtcdCluster(asio::io_context& io, int members, std::string extra_client_host)
    : io_(io) {
  std::string initial;
  for (int i = 0; i < members; ++i) {
    etcd::LocalEtcdOptions o;
    o.name = fmt::format("m{}", i);
    o.data_dir = fmt::format("{}/{}", dir_.path(), o.name);
    o.client_port = FreePort();
    o.peer_port = FreePort();
    o.extra_client_host = extra_client_host;
    initial += fmt::format("{}{}=http://127.0.0.1:{}", i ? "," : "", o.name, o.peer_port);
    options_.push_back(o);
  }
  for (auto& o : options_) {
    if (members > 1) o.initial_cluster = initial;
    auto m = etcd::LocalEtcd::Launch(o);
    if (!m.ok()) throw std::runtime_error(m.status().ToString());
    members_.push_back(std::move(*m));
  }
  for (auto& m : members_) {
    Status s = RunTask(io_, m->WaitReady(io_.get_executor(), 30s));
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
}

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) {
    if (m) m->process().Signal(SIGKILL).IgnoreError();
  }
  members_.clear();
}

std::vector<std::string> EtcdCluster::urls() const {
  std::vector<std::string> out;
  for (const auto& o : options_) out.push_back(fmt::format("http://127.0.0.1:{}", o.client_port));
  return out;
}

int EtcdCluster::IndexOf(const std::string& address) const {
  for (int i = 0; i < size(); ++i) {
    if (address == fmt::format("127.0.0.1:{}", options_[i].client_port)) return i;
  }
  return -1;
}

void EtcdCluster::Kill(int i) {
  members_[i]->process().Signal(SIGKILL).IgnoreError();
  (void)members_[i]->process().Wait(10s);
}

void EtcdCluster::Restart(int i) {
  auto o = options_[i];
  o.join_existing = size() > 1;
  auto m = etcd::LocalEtcd::Launch(o);
  if (!m.ok()) throw std::runtime_error(m.status().ToString());
  members_[i] = std::move(*m);
}

Task<void> CollectWatchEvents(etcd::Watcher& watcher, size_t count, std::vector<std::string>& out,
                              Status& error) {
  while (out.size() < count) {
    auto batch = co_await WithTimeout<etcd::WatchBatch>(30s, "watch", watcher.Next());
    if (!batch.ok()) {
      error = batch.status();
      co_return;
    }
    for (const auto& ev : batch->events) out.push_back(ev.kv.key + "=" + ev.kv.value);
  }
}

void RunBoth(asio::io_context& io, Task<void> a, Task<void> b) {
  int done = 0;
  asio::co_spawn(io, std::move(a), [&](std::exception_ptr) { ++done; });
  asio::co_spawn(io, std::move(b), [&](std::exception_ptr) { ++done; });
  io.restart();
  while (done < 2) io.run_one();
}

}  // namespace tg::testing
