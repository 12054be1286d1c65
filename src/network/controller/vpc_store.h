// The VPC model's records in etcd, changed only by transactions that are
// conditioned on what was read, so concurrent callers (CLI, API, several
// servers) never leave a duplicate address, an overlapping vSwitch, or a
// child without its parent:
// - a child (vSwitch, security group, gateway) is created or deleted
//   together with a rewrite of its VPC's record, conditioned on that
//   record's revision, and a VPC is deleted only if that revision still
//   shows no children;
// - an interface takes its address (and its MAC) by creating the address's
//   own key (it must not exist) and rewrites its vSwitch's and its security
//   groups' records in the same way;
// - a new record's id is random and its key must not exist, so creates in
//   different VPCs never wait for each other.
// Each operation reads only the records it needs (one transaction, so one
// revision), never the whole prefix; a record it reads that does not decode
// fails the operation.
// Thread-safety: belongs to the client's executor.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "etcd/client.h"
#include "network/model/network_state.h"

namespace tg::network {

// What an operation reads: every record under some prefixes, and single
// keys.
struct NetworkReads {
  std::vector<std::string> prefixes;
  std::vector<std::string> keys;
};

class VpcStore {
 public:
  // `fence`: a compare every transaction of this store carries (a
  // controller's leadership: etcd::Election::OwnerCompare()). Once it fails,
  // writes fail with Cancelled and change nothing.
  explicit VpcStore(etcd::Client& client, std::optional<etcd::Compare> fence = std::nullopt)
      : client_(client), fence_(std::move(fence)) {}

  // Every record (listings, trace).
  Task<Result<NetworkState>> Read();
  // Only the records `reads` names, at one revision.
  Task<Result<NetworkState>> Read(const NetworkReads& reads);
  // Commits `txn` with the fence added; Cancelled if the fence no longer
  // held (else the result, succeeded or not).
  Task<Result<etcd::TxnResult>> Commit(etcd::Txn txn);

  Task<Result<Vpc>> CreateVpc(std::string name, Cidr cidr, std::string description = "");
  Task<Status> DeleteVpc(std::string id);
  Task<Result<VSwitch>> CreateVSwitch(std::string vpc_id, Cidr cidr, std::string zone,
                                      std::string name = "");
  Task<Status> DeleteVSwitch(std::string id);
  Task<Result<SecurityGroup>> CreateSecurityGroup(std::string vpc_id, std::string name = "");
  Task<Status> DeleteSecurityGroup(std::string id);
  // Adds a rule (an identical one is not added twice).
  Task<Status> AddRule(std::string group_id, SecurityGroupRule rule);
  Task<Status> RemoveRule(std::string group_id, SecurityGroupRule rule);
  // An address from the vSwitch (`ip`, or the lowest free one), a MAC, the
  // groups (all in the vSwitch's VPC), bound to `host`.
  // `source_check` off: the interface may send packets of other sources
  // (an instance routing for others).
  Task<Result<NetworkInterface>> CreateInterface(std::string vswitch_id, std::optional<Ipv4> ip,
                                                 std::vector<std::string> security_groups,
                                                 std::string host, std::string instance = "",
                                                 bool source_check = true,
                                                 std::string port = std::string(kPortTap),
                                                 uint16_t queues = 1);
  Task<Status> DeleteInterface(std::string id);
  // Moves the interface to the node whose vSwitch serves it (a compute
  // agent, before it runs the instance); "" unbinds it. Conditioned on the
  // interface's revision.
  Task<Status> BindInterface(std::string eni, std::string host);
  // Unbinds the interface if it is bound to `host`; FailedPrecondition if
  // another host holds it now (a host that lost an instance to another must
  // not take its interface away from there).
  // Also ends a standby on `host` (a migration to it that did not happen):
  // that alone is Ok even though another host holds the interface.
  Task<Status> UnbindInterface(std::string eni, std::string host);
  // A live migration's destination: `host`'s vSwitch opens the interface's
  // port too while frames still go where it is bound. BindInterface to
  // `host` at the switch-over ends the standby. FailedPrecondition unless
  // it is bound to another host.
  Task<Status> StandbyInterface(std::string eni, std::string host);
  // A custom route of the VPC to an interface of it. Destinations inside a
  // vSwitch's block are the system's and are refused, as is a second route
  // for the same destination.
  Task<Status> AddRoute(std::string vpc_id, RouteEntry route);
  Task<Status> RemoveRoute(std::string vpc_id, Cidr destination);

  // Gateways. `host` empty: the node with the gateway role that serves the
  // fewest gateways now.
  // The block public addresses come from; refused while an address in use
  // would fall outside it.
  Task<Status> SetPublicPool(PublicPool pool);
  Task<Result<Eip>> CreateEip(std::optional<Ipv4> address, std::string host = "",
                              std::string name = "");
  Task<Status> DeleteEip(std::string id);
  // With an interface (eni-...) for 1:1 NAT, or with a NAT gateway (ngw-...)
  // for its SNAT and DNAT entries (the EIP moves to the NAT gateway's
  // node). Dissociating is refused while an entry uses the EIP.
  Task<Status> AssociateEip(std::string eip_id, std::string target);
  Task<Status> DissociateEip(std::string eip_id);
  Task<Result<NatGateway>> CreateNatGateway(std::string vpc_id, std::string host = "",
                                            std::string name = "");
  Task<Status> DeleteNatGateway(std::string id);
  // Sources in `entry.source` leave through the EIP (associated with this
  // NAT gateway), ports translated.
  Task<Status> AddSnatEntry(std::string nat_id, SnatEntry entry);
  Task<Status> RemoveSnatEntry(std::string nat_id, Cidr source);
  // A DNAT entry: `entry.external_ip`:`external_port` (an EIP associated
  // with this NAT gateway, named by `eip_id` or by its address, or both;
  // they must agree) forwarded to `internal_ip`:`internal_port` inside the
  // VPC. No two entries forward the same address, port and protocol. The
  // entry as stored (its id, fwd-..., given here; eip_id and external_ip
  // both filled in).
  Task<Result<ForwardEntry>> AddForwardEntry(std::string nat_id, ForwardEntry entry);
  Task<Status> RemoveForwardEntry(std::string nat_id, std::string entry_id);
  // A GRE link from a public address (`address`, or the lowest free one) to
  // the customer gateway `peer`.
  Task<Result<VpnGateway>> CreateVpnGateway(std::string vpc_id, Ipv4 peer,
                                            std::optional<Ipv4> address = std::nullopt,
                                            std::string host = "", std::string name = "");
  Task<Status> DeleteVpnGateway(std::string id);
  // Serves a gateway (an EIP, NAT or VPN gateway) from another gateway
  // node; a NAT gateway's EIPs move with it.
  Task<Status> MoveGateway(std::string id, std::string host);

 private:
  etcd::Client& client_;
  std::optional<etcd::Compare> fence_;
};

}  // namespace tg::network
