// Watcher: the events on a key or key range, in revision order, each exactly
// once. When the stream breaks (member killed, restarted, lost its leader) the
// watcher reconnects, to the next member if needed, and resumes at the revision
// after the last one it delivered. It keeps trying until cancelled; the only
// errors are Cancelled and DataLoss (the revision to resume from has been
// compacted away, so events were lost: the caller must re-read and re-watch).
//
// Thread-safety: belongs to the Client's executor. REQUIRES: destroyed before
// the Client.
#pragma once

#include <memory>

#include "etcd/client.h"

namespace tg::etcd {

struct WatchEvent {
  enum class Type { kPut, kDelete } type;
  KeyValue kv;  // for a delete: the key and the revision of the delete
};

struct WatchBatch {
  int64_t revision = 0;  // the store revision this batch brings the watcher up to
  std::vector<WatchEvent> events;
};

struct WatchOptions {  // trivially copyable: see GetOptions
  bool prefix = false;
  int64_t start_revision = 0;  // 0: from now on
};

class Watcher {
 public:
  Watcher(Client& client, std::string key, WatchOptions options = {});
  ~Watcher();

  // The next non-empty batch of events.
  Task<Result<WatchBatch>> Next();
  // The revision the next event will have at least.
  int64_t next_revision() const { return next_revision_; }
  int reconnects() const { return reconnects_; }

 private:
  Task<Status> Connect();

  Client& client_;
  std::string key_;
  std::string range_end_;
  int64_t next_revision_;
  std::unique_ptr<Client::WatchStream> stream_;
  size_t member_ = 0;
  int reconnects_ = -1;
  Backoff backoff_;
};

}  // namespace tg::etcd
