// Leader election through etcd: the primary/hot-standby scheme every
// controller uses (storage master, VPC controller, scheduler).
//
// Each candidate puts a key /tiangong/election/<name>/<lease id> attached to its
// own lease; the candidate whose key has the lowest create revision leads. A
// candidate waits for the deletion of the key just ahead of it (no herd).
//
// Safety: a leader believes it leads only while its LeaseKeeper says the lease
// is certainly alive (see lease.h). Its key, and so its leadership, can vanish
// only when the lease expires or is revoked on the server, which is after the
// instant the leader has stopped believing. So at no instant do two candidates
// both believe they lead (on one host's clock; across hosts, the lease margin
// absorbs clock-rate drift).
//
// Fencing: believing is not enough for writes. A leader paused past its lease
// (SIGSTOP, a long GC-like stall, a slow network) still has its transaction in
// flight when it resumes. So every leader-only write carries OwnerCompare():
// "my candidate key still exists, created by this campaign" (etcd's
// concurrency package calls it IsOwner). Once the key is gone, and so before any
// successor can lead, such a transaction fails on the server.
//
// Thread-safety: belongs to the Client's executor.
#pragma once

#include <memory>
#include <optional>

#include "etcd/client.h"
#include "etcd/lease.h"
#include "etcd/watch.h"

namespace tg::etcd {

struct LeaderInfo {
  std::string key;
  std::string value;  // what the leader put: its name/address
  int64_t create_revision = 0;
};

class Election {
 public:
  Election(Client& client, std::string name, std::string value, std::chrono::seconds ttl);
  ~Election();

  // Completes when this candidate leads. Fails with Cancelled, or Unavailable
  // when the lease was lost while waiting (call again to re-enter).
  Task<Status> Campaign();

  // True while this candidate leads and its lease is certainly alive. Check it
  // before every leader-only action.
  bool is_leader() const { return leading_ && keeper_ && keeper_->alive(); }
  // The instant until which leadership is certain (for logs and tests).
  TimePoint leader_until() const;
  // Set when leadership ends without Resign() (lease lost).
  Event& lost();

  // The fence for leader-only writes: add it to every such transaction's
  // compares. It holds while the candidate key of the latest campaign exists
  // with the create revision that campaign gave it; take it after Campaign()
  // succeeds and keep it for that term (a later campaign makes a new key).
  // Before any campaign it never holds.
  Compare OwnerCompare() const;

  // Gives up leadership (or candidacy) at once: revokes the lease, so the next
  // candidate takes over without waiting for a TTL.
  Task<Status> Resign();

  // The current leader of election `name`, or NotFound.
  static Task<Result<LeaderInfo>> Leader(Client& client, const std::string& name);

  // Follows the leader of an election: Next() returns it each time it changes
  // (nullopt when there is none).
  class Observer {
   public:
    Observer(Client& client, std::string name);
    Task<Result<std::optional<LeaderInfo>>> Next();

   private:
    Client& client_;
    std::string name_;
    std::unique_ptr<Watcher> watcher_;
    std::optional<std::string> last_key_;
    bool first_ = true;
  };

  static std::string Prefix(const std::string& name) { return "/tiangong/election/" + name + "/"; }

 private:
  Task<Status> WaitForPredecessors(int64_t my_revision);

  Client& client_;
  std::string name_;
  std::string value_;
  std::chrono::seconds ttl_;
  std::unique_ptr<LeaseKeeper> keeper_;
  std::string key_;
  int64_t key_revision_ = 0;  // create revision of key_
  bool leading_ = false;
  Event no_keeper_lost_;  // lost() before any campaign
};

}  // namespace tg::etcd
