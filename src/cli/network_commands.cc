#include "cli/network_commands.h"

#include <iostream>

#include "network/controller/vpc_store.h"
#include "network/vswitch/trace.h"
#include "network/vswitch/vswitch.h"

namespace tg::cli {

using namespace tg::network;

struct NetworkCommands::Flags {
  CLI::App *vpc = nullptr, *vswitch = nullptr, *sg = nullptr, *eni = nullptr;
  CLI::App *vpc_create, *vpc_list, *vpc_delete;
  CLI::App *vsw_create, *vsw_list, *vsw_delete;
  CLI::App *sg_create, *sg_list, *sg_delete, *rule_add, *rule_remove;
  CLI::App *eni_create, *eni_list, *eni_delete;
  CLI::App *net = nullptr, *trace = nullptr;
  CLI::App *route = nullptr, *route_add, *route_delete, *route_list;
  CLI::App *eip = nullptr, *eip_create, *eip_list, *eip_delete, *eip_associate, *eip_dissociate,
           *pool_set;
  CLI::App *nat = nullptr, *nat_create, *nat_list, *nat_delete, *snat_add, *snat_remove,
           *forward_add, *forward_remove;
  CLI::App *vpn = nullptr, *vpn_create, *vpn_list, *vpn_delete;
  std::string router, target, eip_id, peer;
  // A forward (DNAT) entry.
  std::string external_ip, internal_ip, forward_protocol = "any", entry_id;
  uint16_t external_port = 0, internal_port = 0;
  std::string destination, next_hop;
  bool no_source_check = false;
  std::string port = "tap";
  uint16_t queues = 1;
  std::string trace_to, trace_protocol = "icmp";
  uint16_t trace_port = 0;
  std::string id, name, cidr, zone, vpc_id, vswitch_id, ip, host, instance, description;
  std::vector<std::string> groups;
  // A rule.
  std::string direction = "ingress", protocol = "all", ports = "-1/-1", peer_group,
              policy = "accept";
  int priority = 1;
};

namespace {

void AddEtcd(CLI::App* c, std::string& etcd_list) {
  c->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")->capture_default_str();
}

Result<SecurityGroupRule> RuleFrom(const std::string& direction, const std::string& protocol,
                                   const std::string& ports, const std::string& cidr,
                                   const std::string& peer_group, const std::string& policy,
                                   int priority) {
  SecurityGroupRule r;
  TG_ASSIGN_OR_RETURN(r.direction, ParseDirection(direction));
  TG_ASSIGN_OR_RETURN(r.protocol, ParseProtocol(protocol));
  TG_ASSIGN_OR_RETURN(r.ports, ParsePortRange(ports, r.protocol));
  if (!cidr.empty()) {
    TG_ASSIGN_OR_RETURN(r.cidr, ParseCidr(cidr));
  }
  r.peer_group = peer_group;
  TG_ASSIGN_OR_RETURN(r.policy, ParsePolicy(policy));
  r.priority = priority;
  TG_RETURN_IF_ERROR(Validate(r));
  return r;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

}  // namespace

NetworkCommands::NetworkCommands(CLI::App& app, std::string& etcd_list)
    : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  f.vpc = app.add_subcommand("vpc", "Virtual private clouds: an address block and its own VNI");
  f.vpc->require_subcommand(1);
  f.vpc_create = f.vpc->add_subcommand("create", "Create a VPC");
  f.vpc_create->add_option("--cidr", f.cidr, "Its address block, /8 to /28")->required();
  f.vpc_create->add_option("--name", f.name, "A name");
  f.vpc_create->add_option("--description", f.description, "Free text");
  f.vpc_list = f.vpc->add_subcommand("list", "List VPCs");
  f.vpc_delete = f.vpc->add_subcommand("delete", "Delete a VPC (it must be empty)");
  f.vpc_delete->add_option("id", f.id, "a VPC id (vpc-...)")->required();

  f.vswitch = app.add_subcommand("vswitch", "Subnets of a VPC, each in one zone");
  f.vswitch->require_subcommand(1);
  f.vsw_create = f.vswitch->add_subcommand("create", "Create a vSwitch");
  f.vsw_create->add_option("--vpc", f.vpc_id, "a VPC id (vpc-...)")->required();
  f.vsw_create->add_option("--cidr", f.cidr, "Inside the VPC's block, /16 to /29")->required();
  f.vsw_create->add_option("--zone", f.zone, "Zone")->required();
  f.vsw_create->add_option("--name", f.name, "A name");
  f.vsw_list = f.vswitch->add_subcommand("list", "List vSwitches");
  f.vsw_delete = f.vswitch->add_subcommand("delete", "Delete a vSwitch (it must be empty)");
  f.vsw_delete->add_option("id", f.id, "a vSwitch id (vsw-...)")->required();

  f.sg = app.add_subcommand("sg", "Security groups: stateful rules for interfaces");
  f.sg->require_subcommand(1);
  f.sg_create = f.sg->add_subcommand("create", "Create a security group");
  f.sg_create->add_option("--vpc", f.vpc_id, "a VPC id (vpc-...)")->required();
  f.sg_create->add_option("--name", f.name, "A name");
  f.sg_list = f.sg->add_subcommand("list", "List security groups and their rules");
  f.sg_delete = f.sg->add_subcommand("delete", "Delete a security group (no interface in it)");
  f.sg_delete->add_option("id", f.id, "a security group id (sg-...)")->required();
  auto* rule = f.sg->add_subcommand("rule", "Add or remove a rule");
  rule->require_subcommand(1);
  f.rule_add = rule->add_subcommand("add", "Add a rule");
  f.rule_remove = rule->add_subcommand("remove", "Remove a rule (give it exactly as added)");
  for (auto* c : {f.rule_add, f.rule_remove}) {
    c->add_option("id", f.id, "a security group id (sg-...)")->required();
    c->add_option("--direction", f.direction, "ingress or egress")->capture_default_str();
    c->add_option("--protocol", f.protocol, "tcp, udp, icmp, gre or all")->capture_default_str();
    c->add_option("--ports", f.ports, "a/b (TCP, UDP), -1/-1 (others)")->capture_default_str();
    c->add_option("--cidr", f.cidr, "The other end's address block");
    c->add_option("--peer-group", f.peer_group, "... or its security group");
    c->add_option("--policy", f.policy, "accept or drop")->capture_default_str();
    c->add_option("--priority", f.priority, "1 (strongest) to 100")->capture_default_str();
    AddEtcd(c, etcd_list);
  }

  f.eni = app.add_subcommand("eni", "Network interfaces: an address in a vSwitch, on a host");
  f.eni->require_subcommand(1);
  f.eni_create = f.eni->add_subcommand("create", "Create an interface");
  f.eni_create->add_option("--vswitch", f.vswitch_id, "a vSwitch id (vsw-...)")->required();
  f.eni_create->add_option("--ip", f.ip, "Its private address (default: the lowest free)");
  f.eni_create->add_option("--sg", f.groups, "Security groups (repeatable)");
  f.eni_create->add_option("--host", f.host, "The node that serves it");
  f.eni_create->add_option("--instance", f.instance, "What it belongs to (free text)");
  f.eni_create->add_flag("--no-source-check", f.no_source_check,
                         "Let it send other sources' packets (an instance that routes)");
  f.eni_create->add_option("--port", f.port, "tap, or vhost-user (a QEMU guest's virtio-net)")
      ->capture_default_str();
  f.eni_create->add_option("--queues", f.queues, "Queue pairs of a vhost-user port")
      ->capture_default_str();
  f.eni_list = f.eni->add_subcommand("list", "List interfaces");
  f.eni_delete = f.eni->add_subcommand("delete", "Delete an interface (its address is freed)");
  f.eni_delete->add_option("id", f.id, "an interface id (eni-...)")->required();

  f.route = app.add_subcommand(
      "route", "Custom routes of a VPC: a block via an instance, a NAT or a VPN gateway");
  f.route->require_subcommand(1);
  f.route_add = f.route->add_subcommand(
      "add", "Send a block to an interface (a router instance), a NAT or a VPN gateway");
  f.route_add->alias("create");
  f.route_delete = f.route->add_subcommand("delete", "Remove the route to a block");
  f.route_list = f.route->add_subcommand("list", "List the routes of every VPC");
  for (auto* c : {f.route_add, f.route_delete}) {
    c->add_option("--vpc", f.vpc_id, "a VPC id (vpc-...)")->required();
    c->add_option("--destination", f.destination, "The block, a.b.c.d/n")->required();
  }
  f.route_add
      ->add_option("--next-hop", f.next_hop,
                   "an interface (eni-...), NAT gateway (ngw-...) or VPN gateway (vpn-...)")
      ->required();
  for (auto* c : {f.route_add, f.route_delete, f.route_list}) AddEtcd(c, etcd_list);

  f.eip =
      app.add_subcommand("eip", "Elastic IPs: public addresses for interfaces and NAT gateways");
  f.eip->require_subcommand(1);
  f.eip_create = f.eip->add_subcommand("create", "Allocate an EIP from the public pool");
  f.eip_create->add_option("--ip", f.ip, "The address (default: the lowest free)");
  f.eip_create->add_option("--host", f.host, "The gateway node (default: the least loaded)");
  f.eip_create->add_option("--name", f.name, "A name");
  f.eip_list = f.eip->add_subcommand("list", "List EIPs");
  f.eip_delete = f.eip->add_subcommand("delete", "Release an EIP (it must be dissociated)");
  f.eip_delete->add_option("id", f.id, "an EIP id (eip-...)")->required();
  f.eip_associate = f.eip->add_subcommand("associate", "Map an EIP to an interface or NAT gateway");
  f.eip_associate->add_option("id", f.id, "an EIP id (eip-...)")->required();
  f.eip_associate
      ->add_option("--to", f.target,
                   "an interface (eni-..., 1:1 NAT) or a NAT gateway (ngw-..., for SNAT)")
      ->required();
  f.eip_dissociate = f.eip->add_subcommand("dissociate", "Unmap an EIP");
  f.eip_dissociate->add_option("id", f.id, "an EIP id (eip-...)")->required();
  auto* pool = f.eip->add_subcommand("pool", "The public address pool");
  pool->require_subcommand(1);
  f.pool_set = pool->add_subcommand("set", "Set the block public addresses come from");
  f.pool_set->add_option("--cidr", f.cidr, "The gateways' public block")->required();
  f.pool_set->add_option("--router", f.router, "Its router (the uplinks' next hop)")->required();

  f.nat = app.add_subcommand(
      "nat",
      "NAT gateways: a VPC's egress to the public network (SNAT) and forwarded ports (DNAT)");
  f.nat->require_subcommand(1);
  f.nat_create = f.nat->add_subcommand("create", "Create a NAT gateway");
  f.nat_create->add_option("--vpc", f.vpc_id, "a VPC id (vpc-...)")->required();
  f.nat_create->add_option("--host", f.host, "The gateway node (default: the least loaded)");
  f.nat_create->add_option("--name", f.name, "A name");
  f.nat_list = f.nat->add_subcommand("list", "List NAT gateways and their SNAT entries");
  f.nat_delete = f.nat->add_subcommand("delete", "Delete a NAT gateway (no entries, EIPs, routes)");
  f.nat_delete->add_option("id", f.id, "a NAT gateway id (ngw-...)")->required();
  auto* snat = f.nat->add_subcommand("snat", "SNAT entries");
  snat->require_subcommand(1);
  f.snat_add = snat->add_subcommand("add", "Translate a block of sources to an EIP");
  f.snat_remove = snat->add_subcommand("remove", "Remove the entry of a block");
  for (auto* c : {f.snat_add, f.snat_remove}) {
    c->add_option("id", f.id, "a NAT gateway id (ngw-...)")->required();
    c->add_option("--source", f.cidr, "Private sources, a.b.c.d/n")->required();
  }
  f.snat_add->add_option("--eip", f.eip_id, "An EIP associated with the NAT gateway")->required();
  auto* forward =
      f.nat->add_subcommand("forward", "Forward (DNAT) entries: a public port to a VPC");
  forward->require_subcommand(1);
  f.forward_add = forward->add_subcommand(
      "add", "Forward a port of an EIP of the NAT gateway to an address in the VPC");
  f.forward_add->add_option("id", f.id, "a NAT gateway id (ngw-...)")->required();
  f.forward_add
      ->add_option("--external-ip", f.external_ip,
                   "An EIP's address associated with the NAT gateway")
      ->required();
  f.forward_add->add_option("--external-port", f.external_port, "The public port (1-65535)")
      ->required();
  f.forward_add->add_option("--internal-ip", f.internal_ip, "An address in the VPC")->required();
  f.forward_add->add_option("--internal-port", f.internal_port, "Its port (1-65535)")->required();
  f.forward_add->add_option("--protocol", f.forward_protocol, "tcp, udp or any")
      ->capture_default_str();
  f.forward_remove = forward->add_subcommand("remove", "Remove a forward entry");
  f.forward_remove->add_option("id", f.id, "a NAT gateway id (ngw-...)")->required();
  f.forward_remove->add_option("entry", f.entry_id, "a forward entry id (fwd-...)")->required();

  f.vpn =
      app.add_subcommand("vpn", "VPN gateways: a GRE link from a VPC to an on-premises network");
  f.vpn->require_subcommand(1);
  f.vpn_create = f.vpn->add_subcommand("create", "Create a VPN gateway");
  f.vpn_create->add_option("--vpc", f.vpc_id, "a VPC id (vpc-...)")->required();
  f.vpn_create->add_option("--peer", f.peer, "The customer gateway's public address")->required();
  f.vpn_create->add_option("--ip", f.ip, "Its own public address (default: the lowest free)");
  f.vpn_create->add_option("--host", f.host, "The gateway node (default: the least loaded)");
  f.vpn_create->add_option("--name", f.name, "A name");
  f.vpn_list = f.vpn->add_subcommand("list", "List VPN gateways");
  f.vpn_delete = f.vpn->add_subcommand("delete", "Delete a VPN gateway (no route to it)");
  f.vpn_delete->add_option("id", f.id, "a VPN gateway id (vpn-...)")->required();

  f.net = app.add_subcommand("net", "The VPC datapath as the vSwitches see it");
  f.net->require_subcommand(1);
  f.trace = f.net->add_subcommand(
      "trace", "Which hops and security-group rules a packet from an interface meets");
  f.trace->add_option("--from", f.id, "The sending interface (eni-...)")->required();
  f.trace->add_option("--to", f.trace_to, "The destination address")->required();
  f.trace->add_option("--protocol", f.trace_protocol, "tcp, udp or icmp")->capture_default_str();
  f.trace->add_option("--port", f.trace_port, "Destination port (tcp, udp)");
  AddEtcd(f.trace, etcd_list);

  for (auto* c : {f.vpc_create,    f.vpc_list,       f.vpc_delete,  f.vsw_create,  f.vsw_list,
                  f.vsw_delete,    f.sg_create,      f.sg_list,     f.sg_delete,   f.eni_create,
                  f.eni_list,      f.eni_delete,     f.eip_create,  f.eip_list,    f.eip_delete,
                  f.eip_associate, f.eip_dissociate, f.pool_set,    f.nat_create,  f.nat_list,
                  f.nat_delete,    f.snat_add,       f.snat_remove, f.forward_add, f.forward_remove,
                  f.vpn_create,    f.vpn_list,       f.vpn_delete}) {
    AddEtcd(c, etcd_list);
  }
}

NetworkCommands::~NetworkCommands() = default;

bool NetworkCommands::chosen() const {
  return *flags_->vpc || *flags_->vswitch || *flags_->sg || *flags_->eni || *flags_->net ||
         *flags_->route || *flags_->eip || *flags_->nat || *flags_->vpn;
}

Task<Status> NetworkCommands::Run(etcd::Client& client) {
  const Flags& f = *flags_;
  VpcStore store(client);
  if (*f.vpc_create) {
    TG_CO_ASSIGN_OR_RETURN(Cidr cidr, ParseCidr(f.cidr));
    TG_CO_ASSIGN_OR_RETURN(Vpc v, co_await store.CreateVpc(f.name, cidr, f.description));
    fmt::print("{} {} vni {}\n", v.id, v.cidr.ToString(), v.vni);
    co_return Status::Ok();
  }
  if (*f.vpc_delete) co_return co_await store.DeleteVpc(f.id);
  if (*f.vsw_create) {
    TG_CO_ASSIGN_OR_RETURN(Cidr cidr, ParseCidr(f.cidr));
    TG_CO_ASSIGN_OR_RETURN(VSwitch s, co_await store.CreateVSwitch(f.vpc_id, cidr, f.zone, f.name));
    fmt::print("{} {} gateway {}\n", s.id, s.cidr.ToString(), s.gateway().ToString());
    co_return Status::Ok();
  }
  if (*f.vsw_delete) co_return co_await store.DeleteVSwitch(f.id);
  if (*f.sg_create) {
    TG_CO_ASSIGN_OR_RETURN(SecurityGroup g, co_await store.CreateSecurityGroup(f.vpc_id, f.name));
    fmt::print("{}\n", g.id);
    co_return Status::Ok();
  }
  if (*f.sg_delete) co_return co_await store.DeleteSecurityGroup(f.id);
  if (*f.rule_add || *f.rule_remove) {
    TG_CO_ASSIGN_OR_RETURN(SecurityGroupRule r, RuleFrom(f.direction, f.protocol, f.ports, f.cidr,
                                                         f.peer_group, f.policy, f.priority));
    if (*f.rule_add) co_return co_await store.AddRule(f.id, r);
    co_return co_await store.RemoveRule(f.id, r);
  }
  if (*f.eni_create) {
    std::optional<Ipv4> ip;
    if (!f.ip.empty()) {
      TG_CO_ASSIGN_OR_RETURN(ip, ParseIpv4(f.ip));
    }
    TG_CO_ASSIGN_OR_RETURN(NetworkInterface e, co_await store.CreateInterface(
                                                   f.vswitch_id, ip, f.groups, f.host, f.instance,
                                                   !f.no_source_check, f.port, f.queues));
    fmt::print("{} {} {}\n", e.id, e.ip.ToString(), e.mac.ToString());
    co_return Status::Ok();
  }
  if (*f.eni_delete) co_return co_await store.DeleteInterface(f.id);
  if (*f.route_add || *f.route_delete) {
    TG_CO_ASSIGN_OR_RETURN(Cidr destination, ParseCidr(f.destination));
    if (*f.route_delete) co_return co_await store.RemoveRoute(f.vpc_id, destination);
    co_return co_await store.AddRoute(f.vpc_id, RouteEntry{destination, f.next_hop});
  }

  std::optional<Ipv4> ip;  // --ip, where given
  if (!f.ip.empty()) {
    TG_CO_ASSIGN_OR_RETURN(ip, ParseIpv4(f.ip));
  }
  if (*f.pool_set) {
    TG_CO_ASSIGN_OR_RETURN(Cidr cidr, ParseCidr(f.cidr));
    TG_CO_ASSIGN_OR_RETURN(Ipv4 router, ParseIpv4(f.router));
    co_return co_await store.SetPublicPool(PublicPool{cidr, router});
  }
  if (*f.eip_create) {
    TG_CO_ASSIGN_OR_RETURN(Eip e, co_await store.CreateEip(ip, f.host, f.name));
    fmt::print("{} {} on {}\n", e.id, e.address.ToString(), e.host);
    co_return Status::Ok();
  }
  if (*f.eip_delete) co_return co_await store.DeleteEip(f.id);
  if (*f.eip_associate) co_return co_await store.AssociateEip(f.id, f.target);
  if (*f.eip_dissociate) co_return co_await store.DissociateEip(f.id);
  if (*f.nat_create) {
    TG_CO_ASSIGN_OR_RETURN(NatGateway n, co_await store.CreateNatGateway(f.vpc_id, f.host, f.name));
    fmt::print("{} on {}\n", n.id, n.host);
    co_return Status::Ok();
  }
  if (*f.nat_delete) co_return co_await store.DeleteNatGateway(f.id);
  if (*f.snat_add || *f.snat_remove) {
    TG_CO_ASSIGN_OR_RETURN(Cidr source, ParseCidr(f.cidr));
    if (*f.snat_remove) co_return co_await store.RemoveSnatEntry(f.id, source);
    co_return co_await store.AddSnatEntry(f.id, SnatEntry{source, f.eip_id});
  }
  if (*f.forward_add) {
    ForwardEntry entry{.external_port = f.external_port, .internal_port = f.internal_port};
    TG_CO_ASSIGN_OR_RETURN(entry.external_ip, ParseIpv4(f.external_ip));
    TG_CO_ASSIGN_OR_RETURN(entry.internal_ip, ParseIpv4(f.internal_ip));
    TG_CO_ASSIGN_OR_RETURN(entry.protocol, ParseForwardProtocol(f.forward_protocol));
    TG_CO_ASSIGN_OR_RETURN(ForwardEntry added, co_await store.AddForwardEntry(f.id, entry));
    fmt::print("{} {}:{} -> {}:{} {}\n", added.id, added.external_ip.ToString(),
               added.external_port, added.internal_ip.ToString(), added.internal_port,
               ForwardProtocolName(added.protocol));
    co_return Status::Ok();
  }
  if (*f.forward_remove) co_return co_await store.RemoveForwardEntry(f.id, f.entry_id);
  if (*f.vpn_create) {
    TG_CO_ASSIGN_OR_RETURN(Ipv4 peer, ParseIpv4(f.peer));
    TG_CO_ASSIGN_OR_RETURN(VpnGateway v,
                           co_await store.CreateVpnGateway(f.vpc_id, peer, ip, f.host, f.name));
    fmt::print("{} {} peer {} on {}\n", v.id, v.address.ToString(), v.peer.ToString(), v.host);
    co_return Status::Ok();
  }
  if (*f.vpn_delete) co_return co_await store.DeleteVpnGateway(f.id);

  TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read());
  if (*f.trace) {
    TraceRequest r{.from = f.id};
    TG_CO_ASSIGN_OR_RETURN(r.to, ParseIpv4(f.trace_to));
    TG_CO_ASSIGN_OR_RETURN(r.protocol, ParseProtocol(f.trace_protocol));
    if (r.protocol != Protocol::kTcp && r.protocol != Protocol::kUdp &&
        r.protocol != Protocol::kIcmp) {
      co_return InvalidArgument("trace: --protocol must be tcp, udp or icmp");
    }
    r.port = f.trace_port;
    TG_CO_ASSIGN_OR_RETURN(auto lines, Trace(st, st.tunnels, r));
    for (const auto& line : lines) fmt::print("{}\n", line);
    co_return Status::Ok();
  }
  if (*f.vpc_list) {
    fmt::print("{:<12} {:<16} {:<18} {:>9} {}\n", "ID", "NAME", "CIDR", "VNI", "VSWITCHES");
    for (const auto& [id, v] : st.vpcs) {
      std::vector<std::string> children;
      for (const auto& [sid, s] : st.vswitches)
        if (s.value.vpc_id == id) children.push_back(sid);
      fmt::print("{:<12} {:<16} {:<18} {:>9} {}\n", id, v.value.name, v.value.cidr.ToString(),
                 v.value.vni, Join(children));
    }
  } else if (*f.route_list) {
    fmt::print("{:<12} {:<18} {}\n", "VPC", "DESTINATION", "NEXT HOP");
    for (const auto& [id, v] : st.vpcs) {
      for (const auto& r : v.value.routes)
        fmt::print("{:<12} {:<18} {}\n", id, r.destination.ToString(), r.next_hop);
    }
  } else if (*f.vsw_list) {
    fmt::print("{:<12} {:<12} {:<18} {:<16} {:<10} {}\n", "ID", "VPC", "CIDR", "GATEWAY", "ZONE",
               "FREE");
    for (const auto& [id, s] : st.vswitches) {
      const VSwitch& v = s.value;
      const uint64_t usable = v.last_usable().value - v.first_usable().value + 1;
      fmt::print("{:<12} {:<12} {:<18} {:<16} {:<10} {}\n", id, v.vpc_id, v.cidr.ToString(),
                 v.gateway().ToString(), v.zone, usable - st.used_addresses[id].size());
    }
  } else if (*f.sg_list) {
    for (const auto& [id, g] : st.security_groups) {
      fmt::print("{} ({}) in {}, inner access {}\n", id, g.value.name, g.value.vpc_id,
                 PolicyName(g.value.inner_access));
      for (const auto& r : g.value.rules) {
        fmt::print("  {:<7} {:<4} {:<11} {:<18} {:<6} priority {}\n", DirectionName(r.direction),
                   ProtocolName(r.protocol), r.ports.ToString(),
                   r.cidr ? r.cidr->ToString() : r.peer_group, PolicyName(r.policy), r.priority);
      }
    }
  } else if (*f.eip_list) {
    if (st.public_pool) {
      fmt::print("pool {} router {}\n", st.public_pool->value.cidr.ToString(),
                 st.public_pool->value.router.ToString());
    }
    fmt::print("{:<10} {:<16} {:<12} {}\n", "ID", "ADDRESS", "HOST", "ASSOCIATED");
    for (const auto& [id, e] : st.eips) {
      const std::string& with = e.value.eni_id.empty() ? e.value.nat_id : e.value.eni_id;
      fmt::print("{:<10} {:<16} {:<12} {}\n", id, e.value.address.ToString(), e.value.host,
                 with.empty() ? "-" : with);
    }
  } else if (*f.nat_list) {
    fmt::print("{:<10} {:<12} {:<12} {}\n", "ID", "VPC", "HOST", "SNAT");
    for (const auto& [id, n] : st.nat_gateways) {
      std::vector<std::string> entries;
      for (const auto& e : n.value.snat)
        entries.push_back(fmt::format("{}->{}", e.source.ToString(), e.eip_id));
      fmt::print("{:<10} {:<12} {:<12} {}\n", id, n.value.vpc_id, n.value.host, Join(entries));
      for (const auto& e : n.value.forward) {
        fmt::print("  forward {} {}:{} -> {}:{} {}\n", e.id, e.external_ip.ToString(),
                   e.external_port, e.internal_ip.ToString(), e.internal_port,
                   ForwardProtocolName(e.protocol));
      }
    }
  } else if (*f.vpn_list) {
    fmt::print("{:<10} {:<12} {:<16} {:<16} {}\n", "ID", "VPC", "ADDRESS", "PEER", "HOST");
    for (const auto& [id, v] : st.vpn_gateways) {
      fmt::print("{:<10} {:<12} {:<16} {:<16} {}\n", id, v.value.vpc_id, v.value.address.ToString(),
                 v.value.peer.ToString(), v.value.host);
    }
  } else if (*f.eni_list) {
    fmt::print("{:<10} {:<12} {:<16} {:<18} {:<12} {}\n", "ID", "VSWITCH", "IP", "MAC", "HOST",
               "GROUPS");
    for (const auto& [id, e] : st.interfaces) {
      fmt::print("{:<10} {:<12} {:<16} {:<18} {:<12} {}\n", id, e.value.vswitch_id,
                 e.value.ip.ToString(), e.value.mac.ToString(),
                 e.value.host.empty() ? "-" : e.value.host, Join(e.value.security_groups));
    }
  }
  co_return Status::Ok();
}

}  // namespace tg::cli
