// Where an instance goes: a pure function of the compute records at one
// revision, so that a leader and a standby that took over compute the same
// answer from the same view.
//
// A node fits an instance when it is alive (its record is on the node's
// lease), in the instance's zone (the zone of its primary vSwitch),
// schedulable, has room (used + need <= capacity x overcommit ratio, for
// vCPUs and memory) and, for an instance in a deployment set, holds no
// other member of the set on the same failure domain: the same host label
// (domain "host") or the same rack label (domain "rack"; nodes without a
// rack label count as one rack, "", so a set never lands twice on racks
// nobody told us apart).
//
// Among the fitting nodes, spreading (the default) takes the one whose
// dominant share after the bind is lowest: max(vCPUs used / vCPU limit,
// memory used / memory limit), ties broken by node name. Packing takes the
// highest instead.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "compute/model/compute_state.h"

namespace tg::compute {

struct PlacementPolicy {
  // vCPUs are time-shared threads of the host, and guests are mostly idle:
  // 4 vCPUs per host CPU is a usual cloud default. Guest memory is a memfd
  // shared with the vhost-user backends and never swapped or ballooned here,
  // so it is not promised twice by default.
  double cpu_overcommit = 4.0;
  double memory_overcommit = 1.0;
  enum class Strategy { kSpread, kPack } strategy = Strategy::kSpread;
};

// Each ratio is a finite number in [0.1, 64] (below 1 keeps part of the
// node back for the host itself).
Status ValidatePlacementPolicy(const PlacementPolicy& policy);

// What `node` may hold under `policy`: floor(capacity x ratio).
Resources NodeLimit(const ComputeNode& node, const PlacementPolicy& policy);

// The nodes and what is bound to them, as read at one revision, updated by
// the binds made since (Bind), so that one pass can place many instances.
class PlacementView {
 public:
  // Live nodes are those with a record. A node's use is its allocation plus
  // any instance bound to it that the allocation does not list (records out
  // of step over-count a node, never under-count it). Deployment-set members bound to a node
  // whose record is gone keep its failure domain taken: its host label is
  // then taken to be the node's name, its rack "" (the unlabelled one).
  PlacementView(const ComputeState& state, PlacementPolicy policy);

  // The node `instance` should be bound to, or ResourceExhausted whose
  // message says why none fits (bounded length, for the status reason).
  Result<std::string> Choose(const Instance& instance) const;
  // Records that `instance`, unbound in the view until now, is bound to
  // `node` (its resources and its deployment-set domain are taken).
  void Bind(const Instance& instance, const std::string& node);

  Resources used(const std::string& node) const;

 private:
  struct Member {
    std::string instance;
    std::string host;
    std::string rack;
  };
  // Why `node` does not fit `instance` (its short reason), or "" if it does.
  std::string Misfit(const ComputeNode& node, const Instance& instance,
                     const std::string& domain) const;
  std::string DomainOf(const std::string& set) const;

  PlacementPolicy policy_;
  std::map<std::string, ComputeNode> nodes_;  // by name: ordered, for ties
  std::map<std::string, Resources> used_;
  std::map<std::string, std::string> set_domains_;      // deployment set -> domain
  std::map<std::string, std::vector<Member>> members_;  // deployment set -> bound members
};

}  // namespace tg::compute
