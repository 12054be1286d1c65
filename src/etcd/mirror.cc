#include "etcd/mirror.h"

#include "base/log.h"
#include "etcd/watch.h"

namespace tg::etcd {

Mirror::Mirror(Client& client, std::string prefix)
    : client_(client), prefix_(std::move(prefix)), changed_(client.executor()) {
  client_.TrackWritesUnder(prefix_);
}

Task<void> Mirror::Run() {
  Backoff backoff;
  for (;;) {
    auto all = co_await client_.Get(prefix_, {.prefix = true});
    if (co_await IsCancelled()) co_return;
    if (!all.ok()) {
      log::Get("etcd")->warn("mirror of {}: read failed, retrying: {}", prefix_, all.status());
      if (!co_await SleepFor(backoff.Next())) co_return;
      continue;
    }
    backoff.Reset();
    kvs_.clear();
    for (auto& kv : all->kvs) kvs_[kv.key] = std::move(kv);
    revision_ = all->revision;
    changed_.Set();
    Watcher watch(client_, prefix_, {.prefix = true, .start_revision = all->revision + 1});
    for (;;) {
      auto batch = co_await watch.Next();
      if (!batch.ok()) break;  // cancelled, or compacted past us: read again
      for (auto& e : batch->events) {
        if (e.type == WatchEvent::Type::kPut) {
          kvs_[e.kv.key] = std::move(e.kv);
        } else {
          kvs_.erase(e.kv.key);
        }
      }
      revision_ = std::max(revision_, batch->revision);
      changed_.Set();
    }
    if (co_await IsCancelled()) co_return;
  }
}

Task<bool> Mirror::WaitFor(int64_t revision, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  // Polled: a wait is short (the watch is milliseconds behind the store),
  // and the changed() event belongs to the reader.
  while (!loaded() || revision_ < revision) {
    if (Clock::now() >= deadline) co_return false;
    if (!co_await SleepFor(std::chrono::milliseconds(2))) co_return false;
  }
  co_return true;
}

Task<bool> Mirror::CatchUp(Duration timeout) {
  return WaitFor(client_.LastWriteUnder(prefix_), timeout);
}

}  // namespace tg::etcd
