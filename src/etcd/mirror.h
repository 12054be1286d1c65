// Mirror: an in-memory copy of every key under a prefix, kept current by a
// watch. It reads the prefix once, at one revision, then applies every event
// after it; when a compaction outruns the watch it reads everything again.
// A standby keeps one so that it can act the moment it leads, and a leader
// reads its state from it instead of from etcd on every pass. Writes the
// Client makes under the prefix are tracked (Client::TrackWritesUnder), so a
// reader can wait until the copy shows them (CatchUp).
//
// Thread-safety: belongs to the Client's executor. REQUIRES: destroyed after
// Run() has ended and before the Client.
#pragma once

#include <map>
#include <string>

#include "etcd/client.h"

namespace tg::etcd {

class Mirror {
 public:
  Mirror(Client& client, std::string prefix);

  // Follows the prefix until cancelled.
  Task<void> Run();
  // True once the copy reflects the store at `revision` or later (any
  // revision: loaded at all); false if that takes longer than `timeout`.
  Task<bool> WaitFor(int64_t revision, Duration timeout);
  // WaitFor the client's own latest write under the prefix: read-your-writes
  // for whoever writes through the same Client.
  Task<bool> CatchUp(Duration timeout);

  bool loaded() const { return revision_ > 0; }
  int64_t revision() const { return revision_; }
  const std::map<std::string, KeyValue>& kvs() const { return kvs_; }
  // Set each time the copy changes; a reader resets it before reading.
  Event& changed() { return changed_; }

 private:
  Client& client_;
  std::string prefix_;
  std::map<std::string, KeyValue> kvs_;
  int64_t revision_ = 0;
  Event changed_;
};

}  // namespace tg::etcd
