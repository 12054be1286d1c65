// LeaseKeeper: grants a lease and keeps it alive in the background.
//
// It knows, from its own clock only, until when the lease is certainly still
// alive on the server: a keep-alive sent at time t and acknowledged with TTL T
// keeps the lease at least until t + T (the server renews it on receipt, later
// than t). alive() is false from `valid_until() - margin` on, and lost() is set
// then, whether or not the keeper has heard from etcd. A leader that stops
// acting when alive() turns false therefore stops before the server can expire
// its lease and let anyone else win an election.
//
// Thread-safety: belongs to the Client's executor. REQUIRES: Stop() or
// Revoke() has completed before destruction.
#pragma once

#include <memory>

#include "etcd/client.h"

namespace tg::etcd {

class LeaseKeeper {
 public:
  // Grants a lease of `ttl` and starts keeping it alive.
  static Task<Result<std::unique_ptr<LeaseKeeper>>> Start(Client& client, std::chrono::seconds ttl);
  ~LeaseKeeper();

  LeaseId id() const { return lease_.id; }
  std::chrono::seconds ttl() const { return lease_.ttl; }
  TimePoint valid_until() const { return valid_until_; }
  bool alive() const { return !lost_.is_set() && Clock::now() < valid_until_ - margin_; }
  // Set once the lease can no longer be relied on.
  Event& lost() { return lost_; }

  // Stops keeping the lease alive (it expires on its own).
  Task<void> Stop();
  // Stops and revokes the lease: its keys go at once.
  Task<Status> Revoke();

 private:
  LeaseKeeper(Client& client, Lease lease, TimePoint granted_at);
  Task<void> KeepAliveLoop();
  Task<void> Watchdog();
  void MarkLost(std::string_view why);

  Client& client_;
  Lease lease_;
  TimePoint valid_until_;
  Duration margin_;
  Event lost_;
  TaskGroup tasks_;
  bool stopped_ = false;
};

}  // namespace tg::etcd
