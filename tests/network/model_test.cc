// The VPC model's pure logic: address and CIDR parsing, Alibaba's vSwitch
// rules (bounds, reserved addresses), allocation, security-group verdicts,
// and records that refuse malformed input.
#include <gtest/gtest.h>

#include "network/model/vpc.h"
#include "support/test_util.h"

namespace tg::network {
namespace {

Ipv4 Ip(std::string_view s) {
  return *ParseIpv4(s);
}
Cidr Block(std::string_view s) {
  return *ParseCidr(s);
}

TEST(VpcAddresses, ParseAndPrintRoundTrip) {
  EXPECT_EQ(Ip("10.1.2.3").ToString(), "10.1.2.3");
  EXPECT_EQ(Ip("255.255.255.255").value, 0xffffffffu);
  for (std::string_view bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "01.2.3.4",
                               "1.2.3.4 ", "a.b.c.d", "-1.2.3.4", "1.2.3.4/"}) {
    EXPECT_FALSE(ParseIpv4(bad).ok()) << bad;
  }
  EXPECT_EQ(Block("192.168.0.0/16").ToString(), "192.168.0.0/16");
  EXPECT_EQ(Block("0.0.0.0/0").size(), uint64_t{1} << 32);
  for (std::string_view bad :
       {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0", "10.0.0.0/", "10.0.0.0/x"}) {
    EXPECT_FALSE(ParseCidr(bad).ok()) << bad;
  }
  EXPECT_EQ(ParseMac("02:00:0a:FF:00:01")->ToString(), "02:00:0a:ff:00:01");
  for (std::string_view bad : {"02:00:0a:ff:00", "02-00-0a-ff-00-01", "02:00:0a:ff:00:0g", ""}) {
    EXPECT_FALSE(ParseMac(bad).ok()) << bad;
  }
  EXPECT_FALSE(MacFromNumber(7).IsMulticast());
  EXPECT_NE(MacFromNumber(7), MacFromNumber(8));
}

TEST(VpcAddresses, CidrContainmentAndOverlap) {
  const Cidr vpc = Block("172.16.0.0/12");
  EXPECT_TRUE(vpc.Contains(Ip("172.31.255.255")));
  EXPECT_FALSE(vpc.Contains(Ip("172.32.0.0")));
  EXPECT_TRUE(vpc.Contains(Block("172.20.1.0/24")));
  EXPECT_FALSE(Block("172.20.1.0/24").Contains(vpc));
  EXPECT_TRUE(Block("10.0.0.0/24").Overlaps(Block("10.0.0.128/25")));
  EXPECT_FALSE(Block("10.0.0.0/25").Overlaps(Block("10.0.0.128/25")));
}

TEST(VpcVSwitches, BoundsReservedAddressesAndAllocation) {
  const Vpc vpc{.id = "vpc-1", .name = "a", .cidr = Block("192.168.0.0/16"), .vni = 100};
  EXPECT_OK(ValidateVpcCidr(vpc.cidr));
  EXPECT_FALSE(ValidateVpcCidr(Block("10.0.0.0/7")).ok());
  EXPECT_FALSE(ValidateVpcCidr(Block("10.0.0.0/29")).ok());
  const VSwitch a{.id = "vsw-1", .vpc_id = "vpc-1", .cidr = Block("192.168.1.0/24")};
  EXPECT_OK(ValidateVSwitchCidr(vpc, a.cidr, {}));
  EXPECT_FALSE(ValidateVSwitchCidr(vpc, Block("192.168.1.128/25"), {a}).ok());  // overlaps
  EXPECT_FALSE(ValidateVSwitchCidr(vpc, Block("10.0.0.0/24"), {a}).ok());       // outside
  EXPECT_FALSE(ValidateVSwitchCidr(vpc, Block("192.168.2.0/30"), {a}).ok());    // too small
  EXPECT_OK(ValidateVSwitchCidr(vpc, Block("192.168.2.0/24"), {a}));
  // The first and the last three are reserved; the gateway is .253.
  EXPECT_EQ(a.gateway().ToString(), "192.168.1.253");
  EXPECT_EQ(PickAddress(a, {})->ToString(), "192.168.1.1");
  EXPECT_EQ(PickAddress(a, {Ip("192.168.1.1"), Ip("192.168.1.2")})->ToString(), "192.168.1.3");
  for (std::string_view reserved :
       {"192.168.1.0", "192.168.1.253", "192.168.1.254", "192.168.1.255", "192.168.2.1"}) {
    EXPECT_FALSE(PickAddress(a, {}, Ip(reserved)).ok()) << reserved;
  }
  EXPECT_EQ(PickAddress(a, {Ip("192.168.1.9")}, Ip("192.168.1.9")).status().code(),
            ErrorCode::kAlreadyExists);
  // A /29 has 8 addresses, 4 usable.
  const VSwitch tiny{.id = "vsw-2", .vpc_id = "vpc-1", .cidr = Block("192.168.3.0/29")};
  std::set<Ipv4> used;
  for (int i = 0; i < 4; ++i) used.insert(*PickAddress(tiny, used));
  EXPECT_EQ(used.rbegin()->ToString(), "192.168.3.4");
  EXPECT_EQ(PickAddress(tiny, used).status().code(), ErrorCode::kResourceExhausted);
}

SecurityGroupRule Rule(Direction d, Protocol p, std::string_view ports, std::string_view cidr,
                       Policy policy, int priority) {
  return {.direction = d,
          .protocol = p,
          .ports = *ParsePortRange(ports, p),
          .cidr = Block(cidr),
          .policy = policy,
          .priority = priority};
}

TEST(VpcSecurityGroups, LowestPriorityWinsDropWinsTiesDefaultsApply) {
  SecurityGroup web{.id = "sg-web", .vpc_id = "vpc-1"};
  web.rules.push_back(
      Rule(Direction::kIngress, Protocol::kTcp, "80/80", "0.0.0.0/0", Policy::kAccept, 10));
  web.rules.push_back(
      Rule(Direction::kIngress, Protocol::kTcp, "1/65535", "10.9.0.0/16", Policy::kDrop, 5));
  web.rules.push_back(
      Rule(Direction::kIngress, Protocol::kIcmp, "-1/-1", "10.0.0.0/8", Policy::kAccept, 50));
  SecurityGroup deny{.id = "sg-deny", .vpc_id = "vpc-1"};
  deny.rules.push_back(
      Rule(Direction::kIngress, Protocol::kAll, "-1/-1", "10.1.0.7/32", Policy::kDrop, 50));
  deny.rules.push_back(
      Rule(Direction::kEgress, Protocol::kUdp, "53/53", "0.0.0.0/0", Policy::kDrop, 1));
  const std::vector<const SecurityGroup*> both{&web, &deny};
  auto judge = [&](Direction d, Protocol p, std::string_view remote, uint16_t port,
                   std::set<std::string> groups = {}) {
    return Judge(both, {d, p, Ip(remote), port, std::move(groups)}).policy;
  };
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kTcp, "8.8.8.8", 80), Policy::kAccept);
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kTcp, "8.8.8.8", 81), Policy::kDrop);   // default
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kTcp, "10.9.1.1", 80), Policy::kDrop);  // 5 < 10
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kIcmp, "10.1.0.6", 0), Policy::kAccept);
  // Equal priority 50, one accept (web) and one drop (deny): drop wins.
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kIcmp, "10.1.0.7", 0), Policy::kDrop);
  EXPECT_EQ(judge(Direction::kEgress, Protocol::kUdp, "1.1.1.1", 53), Policy::kDrop);
  EXPECT_EQ(judge(Direction::kEgress, Protocol::kTcp, "1.1.1.1", 443), Policy::kAccept);
  // Members of the same group reach each other when no rule says otherwise.
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kUdp, "172.16.0.5", 9, {"sg-web"}),
            Policy::kAccept);
  web.inner_access = Policy::kDrop;
  EXPECT_EQ(judge(Direction::kIngress, Protocol::kUdp, "172.16.0.5", 9, {"sg-web"}), Policy::kDrop);
  // A peer-group rule matches by membership, not by address.
  SecurityGroup db{.id = "sg-db", .vpc_id = "vpc-1", .inner_access = Policy::kDrop};
  db.rules.push_back({.direction = Direction::kIngress,
                      .protocol = Protocol::kTcp,
                      .ports = *ParsePortRange("5432/5432", Protocol::kTcp),
                      .peer_group = "sg-web",
                      .policy = Policy::kAccept,
                      .priority = 1});
  EXPECT_EQ(
      Judge({&db}, {Direction::kIngress, Protocol::kTcp, Ip("10.0.0.1"), 5432, {"sg-web"}}).policy,
      Policy::kAccept);
  EXPECT_EQ(Judge({&db}, {Direction::kIngress, Protocol::kTcp, Ip("10.0.0.1"), 5432, {}}).policy,
            Policy::kDrop);
}

TEST(VpcSecurityGroups, RulesAreValidated) {
  EXPECT_FALSE(ParsePortRange("0/80", Protocol::kTcp).ok());
  EXPECT_FALSE(ParsePortRange("90/80", Protocol::kTcp).ok());
  EXPECT_FALSE(ParsePortRange("1/65536", Protocol::kUdp).ok());
  EXPECT_FALSE(ParsePortRange("80", Protocol::kTcp).ok());
  EXPECT_FALSE(ParsePortRange("1/10", Protocol::kIcmp).ok());
  EXPECT_OK(ParsePortRange("-1/-1", Protocol::kGre).status());
  EXPECT_FALSE(ParseProtocol("sctp").ok());
  EXPECT_EQ(*ParseProtocol("TCP"), Protocol::kTcp);
  auto r = Rule(Direction::kIngress, Protocol::kTcp, "22/22", "0.0.0.0/0", Policy::kAccept, 1);
  EXPECT_OK(Validate(r));
  r.priority = 101;
  EXPECT_FALSE(Validate(r).ok());
  r.priority = 1;
  r.peer_group = "sg-x";  // both a CIDR and a group
  EXPECT_FALSE(Validate(r).ok());
}

TEST(VpcRoutes, LongestPrefixWinsAndRoutesSurviveTheRecord) {
  Vpc vpc{.id = "vpc-1", .cidr = Block("10.0.0.0/16"), .vni = 9};
  vpc.routes = {{Block("10.60.0.0/16"), "eni-1"},
                {Block("10.60.7.0/24"), "eni-2"},
                {Block("0.0.0.0/0"), "eni-3"}};
  EXPECT_EQ(LookupRoute(vpc, Ip("10.60.7.9"))->next_hop, "eni-2");
  EXPECT_EQ(LookupRoute(vpc, Ip("10.60.8.9"))->next_hop, "eni-1");
  EXPECT_EQ(LookupRoute(vpc, Ip("8.8.8.8"))->next_hop, "eni-3");
  vpc.routes.pop_back();
  EXPECT_EQ(LookupRoute(vpc, Ip("8.8.8.8")), nullptr);
  auto back = DecodeVpc(Encode(vpc));
  ASSERT_OK(back.status());
  EXPECT_EQ(back->routes, vpc.routes);
}

TEST(VpcRecords, RoundTripAndMalformedRecordsAreRefused) {
  const Vpc vpc{.id = "vpc-1", .name = "prod", .cidr = Block("10.0.0.0/8"), .vni = 7};
  auto v = DecodeVpc(Encode(vpc));
  ASSERT_OK(v.status());
  EXPECT_EQ(v->cidr, vpc.cidr);
  EXPECT_EQ(v->vni, 7u);
  const NetworkInterface eni{.id = "eni-3",
                             .vswitch_id = "vsw-1",
                             .vpc_id = "vpc-1",
                             .mac = MacFromNumber(3),
                             .ip = Ip("10.0.0.5"),
                             .security_groups = {"sg-1"},
                             .host = "h1"};
  auto e = DecodeInterface(Encode(eni));
  ASSERT_OK(e.status());
  EXPECT_EQ(e->mac, eni.mac);
  EXPECT_EQ(e->ip, eni.ip);
  EXPECT_EQ(e->security_groups, eni.security_groups);
  SecurityGroup sg{.id = "sg-1", .name = "web", .vpc_id = "vpc-1"};
  sg.rules.push_back(
      Rule(Direction::kEgress, Protocol::kUdp, "53/53", "0.0.0.0/0", Policy::kDrop, 3));
  auto g = DecodeSecurityGroup(Encode(sg));
  ASSERT_OK(g.status());
  ASSERT_EQ(g->rules.size(), 1u);
  EXPECT_EQ(g->rules[0], sg.rules[0]);
  for (std::string_view bad :
       {"", "[]", "{}", R"({"id":"vpc-1","name":"x","cidr":"10.0.0.1/8","vni":7})",
        R"({"id":"vpc-1","name":"x","cidr":"10.0.0.0/8","vni":0})",
        R"({"id":"vpc-1","name":"x","cidr":"10.0.0.0/8","vni":16777216})",
        R"({"id":"vpc-1","name":"x","cidr":"10.0.0.0/8","vni":"7"})"}) {
    EXPECT_EQ(DecodeVpc(bad).status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(DecodeInterface(R"({"id":"e","vswitch_id":"v","vpc_id":"p","mac":"zz","ip":"1.2.3.4",
                                   "security_groups":[],"host":""})")
                   .ok());
  EXPECT_FALSE(DecodeSecurityGroup(R"({"id":"s","name":"n","vpc_id":"v","inner_access":"accept",
      "rules":[{"direction":"ingress","protocol":"tcp","ports":"0/1","cidr":"0.0.0.0/0",
      "peer_group":"","policy":"accept","priority":1}]})")
                   .ok());
}

}  // namespace
}  // namespace tg::network
