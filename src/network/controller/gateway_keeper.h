// The network controller's one job that needs a single actor: keeping every
// gateway (EIP, NAT gateway, VPN gateway) on a gateway node that is up. A
// node's `gateway-hosts/<host>` key lives under its lease; when it goes, the
// gateways it served are moved to the live gateway nodes serving the
// fewest, and their vSwitches (watching the records) take over: the new
// node announces the public addresses it now answers for.
// Runs on the elected server (with the storage master); standbys keep the
// mirror current, so a new leader acts at once. Every write carries the
// election's fence, so a deposed keeper (paused past its lease, say) that
// resumes mid-pass changes nothing. A pass that finds a record it cannot
// decode moves nothing.
#pragma once

#include "base/async.h"
#include "etcd/client.h"
#include "etcd/mirror.h"

namespace tg::network {

class GatewayKeeper {
 public:
  // `records`: a mirror of the network prefix, kept by the caller.
  // `fence`: the leadership this keeper acts under
  // (etcd::Election::OwnerCompare() of the term).
  GatewayKeeper(etcd::Client& client, etcd::Mirror& records, etcd::Compare fence)
      : client_(client), records_(records), fence_(std::move(fence)) {}
  // Until `stop`: on every change (and every second while a move failed),
  // moves the gateways of nodes that are gone.
  Task<void> Lead(Event& stop);
  // One look at the mirror as it is: moves the gateways of nodes that are
  // gone. OK if nothing is left to move (or nowhere to move it); the
  // record's error if one does not decode (nothing moved); Cancelled once
  // the fence fails; else the first failed move's error.
  Task<Status> Pass();

 private:
  etcd::Client& client_;
  etcd::Mirror& records_;
  etcd::Compare fence_;
  int64_t seen_revision_ = 0;
  bool settled_ = true;
};

}  // namespace tg::network
