// The VPC product's gateway actions (EIPs, NAT gateways with SNAT and
// forward entries, VPN over GRE) against a real etcd and the real VPC store
// (no chunkservers). The cloud's public side is set up as an operator would:
// a public pool and a node with the gateway role (its key put directly, as
// the node would under its lease).
#include <gtest/gtest.h>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "compute/model/records.h"
#include "network/model/address.h"
#include "network/model/gateway.h"

namespace tg::api::testing {
namespace {

using tg::testing::RunTask;

// A call through the table whose parameters may be a braced list: the list
// is built in a plain lambda, since GCC 12 rejects a braced list of string
// pairs inside a co_await expression.
#define VPC(...) ([&] { return Vpc(__VA_ARGS__); }())
#define ONE(...) ([&] { return One(__VA_ARGS__); }())

class GatewayActionsTest : public ApiTest {
 protected:
  // An action without parameters (no braced temporary inside a co_await).
  Task<ApiResult<Json>> Vpc0(std::string action, const Account* as = nullptr) {
    return Vpc(std::move(action), Params(), as);
  }

  Task<bool> PublicSide() {
    auto put = co_await client().Put(std::string(network::kGatewayHostsPrefix) + "gw1", "up0");
    EXPECT_TRUE(put.ok()) << put.status();
    network::PublicPool pool{.cidr = *network::ParseCidr("203.0.113.0/28"),
                             .router = *network::ParseIpv4("203.0.113.1")};
    Status s = co_await vpcs_.SetPublicPool(pool);
    EXPECT_TRUE(s.ok()) << s;
    co_return put.ok() && s.ok();
  }

  // An interface of `vswitch` owned by `account` through an ENI record.
  Task<std::string> OwnedInterface(const std::string& vswitch, const Account& account) {
    auto eni = co_await vpcs_.CreateInterface(vswitch, std::nullopt, {}, "");
    EXPECT_TRUE(eni.ok()) << eni.status();
    if (!eni.ok()) co_return "";
    ResourceRecord r;
    r.id = eni->id;
    r.kind = std::string(kind::kEni);
    r.account = account.id;
    r.created_at = time(nullptr);
    Status s = co_await registry_.Create(r);
    EXPECT_TRUE(s.ok()) << s;
    co_return eni->id;
  }

  Task<std::string> MakeVpc(std::string cidr, const Account* as = nullptr) {
    Params params{{"CidrBlock", cidr}};
    auto made = co_await VPC("CreateVpc", std::move(params), as);
    EXPECT_TRUE(made.ok()) << CodeOf(made);
    co_return made.ok() ? (*made)["VpcId"].get<std::string>() : "";
  }

  Task<Json> One(std::string action, Params params, std::string outer, std::string inner) {
    auto r = co_await VPC(action, std::move(params));
    EXPECT_TRUE(r.ok()) << action << ": " << CodeOf(r);
    if (!r.ok()) co_return Json();
    const Json& items = (*r)[outer][inner];
    EXPECT_EQ(items.size(), 1u) << action;
    co_return items.empty() ? Json() : items[0];
  }
};

TEST_F(GatewayActionsTest, EipsAndNatGateways) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    // No public pool and no gateway node yet: the cloud has no stock.
    auto none = co_await Vpc0("AllocateEipAddress");
    EXPECT_EQ(CodeOf(none), "OperationDenied.NoStock");
    if (!none.ok()) {
      EXPECT_EQ(none.error().http_status, 403);
    }
    const std::string vpc = co_await MakeVpc("10.0.0.0/16");
    CO_ASSERT_TRUE(!vpc.empty());
    EXPECT_EQ(CodeOf(co_await VPC("CreateNatGateway", {{"VpcId", vpc}})),
              "OperationDenied.NoStock");
    CO_ASSERT_TRUE(co_await PublicSide());

    auto vsw = co_await VPC("CreateVSwitch",
                            {{"VpcId", vpc}, {"ZoneId", "z1"}, {"CidrBlock", "10.0.1.0/24"}});
    CO_ASSERT_API_OK(vsw);
    const std::string vswitch = (*vsw)["VSwitchId"];
    const std::string eni = co_await OwnedInterface(vswitch, a_);
    CO_ASSERT_TRUE(!eni.empty());

    // AllocateEipAddress.
    EXPECT_EQ(CodeOf(co_await VPC("AllocateEipAddress", {{"Bandwidth", "lots"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await VPC("AllocateEipAddress", {{"InternetChargeType", "Free"}})),
              "InvalidParameter");
    auto eip = co_await VPC("AllocateEipAddress", {{"Bandwidth", "10"},
                                                   {"InternetChargeType", "PayByTraffic"},
                                                   {"Name", "web-ip"},
                                                   {"Description", "for the web"},
                                                   {"InstanceChargeType", "PostPaid"}});
    CO_ASSERT_API_OK(eip);
    const std::string allocation = (*eip)["AllocationId"];
    const std::string address = (*eip)["EipAddress"];
    EXPECT_EQ(allocation.substr(0, 4), "eip-");
    EXPECT_EQ(address, "203.0.113.2");  // the lowest usable one (.1 is the router)

    Json e = co_await ONE("DescribeEipAddresses", {{"AllocationId", allocation}}, "EipAddresses",
                          "EipAddress");
    EXPECT_EQ(e["AllocationId"], allocation);
    EXPECT_EQ(e["IpAddress"], address);
    EXPECT_EQ(e["Status"], "Available");
    EXPECT_EQ(e["InstanceId"], "");
    EXPECT_EQ(e["InstanceType"], "");
    EXPECT_EQ(e["Bandwidth"], "10");  // a string, as Alibaba's
    EXPECT_EQ(e["InternetChargeType"], "PayByTraffic");
    EXPECT_EQ(e["Name"], "web-ip");
    EXPECT_EQ(e["Description"], "for the web");
    EXPECT_EQ(e["RegionId"], "cn-tiangong");
    EXPECT_TRUE(e["AllocationTime"].is_string());
    auto b_eips = co_await Vpc0("DescribeEipAddresses", &b_);
    CO_ASSERT_API_OK(b_eips);
    EXPECT_EQ((*b_eips)["TotalCount"], 0);
    EXPECT_EQ(CodeOf(co_await VPC("DescribeEipAddresses", {{"PageSize", "101"}})),
              "InvalidParameter");

    // AssociateEipAddress: the target must be the caller's.
    EXPECT_EQ(CodeOf(co_await VPC("AssociateEipAddress", {{"AllocationId", allocation}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("AssociateEipAddress",
                                  {{"AllocationId", allocation},
                                   {"InstanceId", eni},
                                   {"InstanceType", "NetworkInterface"}},
                                  &b_)),
              "InvalidAllocationId.NotFound");
    auto b_eip = co_await Vpc0("AllocateEipAddress", &b_);
    CO_ASSERT_API_OK(b_eip);
    const std::string b_allocation = (*b_eip)["AllocationId"];
    EXPECT_EQ(CodeOf(co_await VPC("AssociateEipAddress",
                                  {{"AllocationId", b_allocation},
                                   {"InstanceId", eni},
                                   {"InstanceType", "NetworkInterface"}},
                                  &b_)),
              "InvalidEniId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("AssociateEipAddress",
                                  {{"AllocationId", allocation}, {"InstanceId", "i-nosuch"}})),
              "InvalidInstanceId.NotFound");
    const Params to_eni{
        {"AllocationId", allocation}, {"InstanceId", eni}, {"InstanceType", "NetworkInterface"}};
    CO_ASSERT_API_OK(co_await VPC("AssociateEipAddress", to_eni));
    EXPECT_EQ(CodeOf(co_await VPC("AssociateEipAddress", to_eni)), "InvalidAssociation.Duplicated");
    auto second = co_await Vpc0("AllocateEipAddress");
    CO_ASSERT_API_OK(second);
    const std::string second_allocation = (*second)["AllocationId"];
    EXPECT_EQ(CodeOf(co_await VPC("AssociateEipAddress", {{"AllocationId", second_allocation},
                                                          {"InstanceId", eni},
                                                          {"InstanceType", "NetworkInterface"}})),
              "InvalidAssociation.Duplicated");
    e = co_await ONE("DescribeEipAddresses", {{"AllocationId", allocation}}, "EipAddresses",
                     "EipAddress");
    EXPECT_EQ(e["Status"], "InUse");
    EXPECT_EQ(e["InstanceId"], eni);
    EXPECT_EQ(e["InstanceType"], "NetworkInterface");
    EXPECT_EQ(e["PrivateIpAddress"], "10.0.1.1");
    auto in_use = co_await VPC("DescribeEipAddresses", {{"Status", "InUse"}});
    CO_ASSERT_API_OK(in_use);
    EXPECT_EQ((*in_use)["TotalCount"], 1);
    auto by_target = co_await VPC("DescribeEipAddresses", {{"AssociatedInstanceId", eni}});
    CO_ASSERT_API_OK(by_target);
    EXPECT_EQ((*by_target)["TotalCount"], 1);

    // Release needs Available; unassociate twice is refused.
    EXPECT_EQ(CodeOf(co_await VPC("ReleaseEipAddress", {{"AllocationId", allocation}})),
              "IncorrectEipStatus");
    EXPECT_EQ(CodeOf(co_await VPC("UnassociateEipAddress",
                                  {{"AllocationId", allocation}, {"InstanceId", "eni-other"}})),
              "IncorrectEipStatus");
    CO_ASSERT_API_OK(
        co_await VPC("UnassociateEipAddress", {{"AllocationId", allocation}, {"InstanceId", eni}}));
    EXPECT_EQ(CodeOf(co_await VPC("UnassociateEipAddress", {{"AllocationId", allocation}})),
              "IncorrectEipStatus");
    EXPECT_EQ(CodeOf(co_await VPC("ReleaseEipAddress", {{"AllocationId", allocation}}, &b_)),
              "InvalidAllocationId.NotFound");

    // An instance (its record as the compute store writes it, no disks
    // needed here): EcsInstance means its primary interface, and the EIP
    // and the route show the instance.
    const std::string eni2 = co_await OwnedInterface(vswitch, a_);
    CO_ASSERT_TRUE(!eni2.empty());
    compute::Instance instance;
    instance.id = "i-gatewaytestinstance1";
    instance.name = "web";
    instance.type = "ecs.t6-c1m1.small";
    instance.zone = "z1";
    instance.nics = {compute::InstanceNic{.eni = eni2}};
    instance.created_at = time(nullptr);
    auto put =
        co_await client().Put(compute::InstanceKey(instance.id), compute::EncodeInstance(instance));
    CO_ASSERT_OK(put.status());
    ResourceRecord owned_instance;
    owned_instance.id = instance.id;
    owned_instance.kind = std::string(kind::kInstance);
    owned_instance.account = a_.id;
    CO_ASSERT_OK(co_await registry_.Create(owned_instance));
    EXPECT_EQ(
        CodeOf(co_await VPC("AssociateEipAddress",
                            {{"AllocationId", b_allocation}, {"InstanceId", instance.id}}, &b_)),
        "InvalidInstanceId.NotFound");
    CO_ASSERT_API_OK(co_await VPC(
        "AssociateEipAddress", {{"AllocationId", second_allocation}, {"InstanceId", instance.id}}));
    e = co_await ONE("DescribeEipAddresses", {{"AllocationId", second_allocation}}, "EipAddresses",
                     "EipAddress");
    EXPECT_EQ(e["Status"], "InUse");
    EXPECT_EQ(e["InstanceId"], instance.id);
    EXPECT_EQ(e["InstanceType"], "EcsInstance");
    EXPECT_EQ(e["PrivateIpAddress"], "10.0.1.2");
    const std::string vpc_table = "vtb-" + vpc.substr(4);
    auto via_instance = co_await VPC("CreateRouteEntry", {{"RouteTableId", vpc_table},
                                                          {"DestinationCidrBlock", "172.20.0.0/16"},
                                                          {"NextHopId", instance.id}});
    CO_ASSERT_API_OK(via_instance);
    Json hop =
        co_await ONE("DescribeRouteEntryList",
                     {{"RouteTableId", vpc_table}, {"DestinationCidrBlock", "172.20.0.0/16"}},
                     "RouteEntrys", "RouteEntry");
    EXPECT_EQ(hop["NextHops"]["NextHop"][0]["NextHopType"], "Instance");
    EXPECT_EQ(hop["NextHops"]["NextHop"][0]["NextHopId"], instance.id);
    const std::string via_instance_id = (*via_instance)["RouteEntryId"];
    CO_ASSERT_API_OK(co_await VPC("DeleteRouteEntry", {{"RouteEntryId", via_instance_id}}));
    CO_ASSERT_API_OK(co_await VPC("UnassociateEipAddress", {{"AllocationId", second_allocation},
                                                            {"InstanceId", instance.id}}));
    CO_ASSERT_OK(co_await vpcs_.DeleteInterface(eni2));

    // CreateNatGateway: ids of its tables, and the VPC's default route.
    EXPECT_EQ(CodeOf(co_await Vpc0("CreateNatGateway")), "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateNatGateway", {{"VpcId", vpc}}, &b_)),
              "InvalidVpcId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("CreateNatGateway", {{"VpcId", vpc}, {"NatType", "Normal"}})),
              "InvalidParameter");
    auto nat = co_await VPC("CreateNatGateway", {{"VpcId", vpc},
                                                 {"VSwitchId", vswitch},
                                                 {"NatType", "Enhanced"},
                                                 {"NetworkType", "internet"},
                                                 {"Name", "egress"},
                                                 {"Description", "the way out"},
                                                 {"AccessMode", R"({"ModeValue":"route"})"},
                                                 {"InternetChargeType", "PayByLcu"}});
    CO_ASSERT_API_OK(nat);
    const std::string nat_id = (*nat)["NatGatewayId"];
    const std::string nat_suffix = nat_id.substr(4);
    EXPECT_EQ(nat_id.substr(0, 4), "ngw-");
    const std::string snat_table = "stb-" + nat_suffix;
    const std::string forward_table = "ftb-" + nat_suffix;
    EXPECT_EQ((*nat)["SnatTableIds"]["SnatTableId"], Json::array({snat_table}));
    EXPECT_EQ((*nat)["ForwardTableIds"]["ForwardTableId"], Json::array({forward_table}));
    EXPECT_EQ((*nat)["FullNatTableIds"]["FullNatTableId"].size(), 1u);
    const std::string table = "vtb-" + vpc.substr(4);
    auto routes = co_await VPC("DescribeRouteEntryList",
                               {{"RouteTableId", table}, {"DestinationCidrBlock", "0.0.0.0/0"}});
    CO_ASSERT_API_OK(routes);
    CO_ASSERT_EQ((*routes)["RouteEntrys"]["RouteEntry"].size(), 1u);
    const Json default_route = (*routes)["RouteEntrys"]["RouteEntry"][0];
    EXPECT_EQ(default_route["Type"], "Custom");
    EXPECT_EQ(default_route["NextHops"]["NextHop"][0]["NextHopType"], "NatGateway");
    EXPECT_EQ(default_route["NextHops"]["NextHop"][0]["NextHopId"], nat_id);

    // The EIP lent to the NAT gateway, then DescribeNatGateways.
    CO_ASSERT_API_OK(co_await VPC(
        "AssociateEipAddress",
        {{"AllocationId", allocation}, {"InstanceId", nat_id}, {"InstanceType", "Nat"}}));
    Json n = co_await ONE("DescribeNatGateways", {{"VpcId", vpc}}, "NatGateways", "NatGateway");
    EXPECT_EQ(n["NatGatewayId"], nat_id);
    EXPECT_EQ(n["Name"], "egress");
    EXPECT_EQ(n["Description"], "the way out");
    EXPECT_EQ(n["Status"], "Available");
    EXPECT_EQ(n["VpcId"], vpc);
    EXPECT_EQ(n["NatType"], "Enhanced");
    EXPECT_EQ(n["NetworkType"], "internet");
    EXPECT_EQ(n["SnatTableIds"]["SnatTableId"], Json::array({snat_table}));
    EXPECT_EQ(n["ForwardTableIds"]["ForwardTableId"], Json::array({forward_table}));
    CO_ASSERT_EQ(n["IpLists"]["IpList"].size(), 1u);
    EXPECT_EQ(n["IpLists"]["IpList"][0]["AllocationId"], allocation);
    EXPECT_EQ(n["IpLists"]["IpList"][0]["IpAddress"], address);
    EXPECT_EQ(n["NatGatewayPrivateInfo"]["VswitchId"], vswitch);
    EXPECT_EQ(n["NatGatewayPrivateInfo"]["ZoneId"], "z1");
    auto b_nats = co_await Vpc0("DescribeNatGateways", &b_);
    CO_ASSERT_API_OK(b_nats);
    EXPECT_EQ((*b_nats)["TotalCount"], 0);
    e = co_await ONE("DescribeEipAddresses", {{"AllocationId", allocation}}, "EipAddresses",
                     "EipAddress");
    EXPECT_EQ(e["InstanceId"], nat_id);
    EXPECT_EQ(e["InstanceType"], "Nat");

    // SNAT entries.
    const Params snat{
        {"SnatTableId", snat_table}, {"SnatIp", address}, {"SourceVSwitchId", vswitch}};
    EXPECT_EQ(CodeOf(co_await VPC("CreateSnatEntry",
                                  {{"SnatTableId", snat_table}, {"SourceVSwitchId", vswitch}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateSnatEntry", {{"SnatTableId", snat_table},
                                                      {"SnatIp", "203.0.113.9"},
                                                      {"SourceVSwitchId", vswitch}})),
              "InvalidIp.NotInNatgw");
    EXPECT_EQ(CodeOf(co_await VPC("CreateSnatEntry", {{"SnatTableId", "stb-nosuch"},
                                                      {"SnatIp", address},
                                                      {"SourceVSwitchId", vswitch}})),
              "InvalidSnatTableId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("CreateSnatEntry", snat, &b_)), "InvalidSnatTableId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("CreateSnatEntry", {{"SnatTableId", snat_table},
                                                      {"SnatIp", address},
                                                      {"SourceCIDR", "10.0.0.0/33"}})),
              "InvalidSourceCIDR.Malformed");
    Params named_snat = snat;
    named_snat["SnatEntryName"] = "web-out";
    auto snat_entry = co_await VPC("CreateSnatEntry", named_snat);
    CO_ASSERT_API_OK(snat_entry);
    const std::string snat_id = (*snat_entry)["SnatEntryId"];
    EXPECT_EQ(snat_id.substr(0, 5), "snat-");
    EXPECT_EQ(CodeOf(co_await VPC("CreateSnatEntry", snat)), "InvalidSnatEntry.Duplicate");
    Json se = co_await ONE("DescribeSnatTableEntries", {{"SnatTableId", snat_table}},
                           "SnatTableEntries", "SnatTableEntry");
    EXPECT_EQ(se["SnatEntryId"], snat_id);
    EXPECT_EQ(se["SnatTableId"], snat_table);
    EXPECT_EQ(se["SnatIp"], address);
    EXPECT_EQ(se["SourceVSwitchId"], vswitch);
    EXPECT_EQ(se["SourceCIDR"], "10.0.1.0/24");
    EXPECT_EQ(se["Status"], "Available");
    EXPECT_EQ(se["SnatEntryName"], "web-out");
    EXPECT_EQ(CodeOf(co_await VPC("DescribeSnatTableEntries", {{"SnatTableId", snat_table}}, &b_)),
              "InvalidSnatTableId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVSwitch", {{"VSwitchId", vswitch}})),
              "DependencyViolation");  // its interface still counts first

    // Forward (DNAT) entries.
    const Params dnat{
        {"ForwardTableId", forward_table}, {"ExternalIp", address}, {"ExternalPort", "8080"},
        {"InternalIp", "10.0.1.1"},        {"InternalPort", "80"},  {"IpProtocol", "TCP"},
        {"ForwardEntryName", "web"}};
    Params bad_port = dnat;
    bad_port["ExternalPort"] = "70000";
    EXPECT_EQ(CodeOf(co_await VPC("CreateForwardEntry", bad_port)), "InvalidParameter");
    Params bad_protocol = dnat;
    bad_protocol["IpProtocol"] = "ICMP";
    EXPECT_EQ(CodeOf(co_await VPC("CreateForwardEntry", bad_protocol)), "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateForwardEntry", dnat, &b_)),
              "InvalidForwardTableId.NotFound");
    auto fwd = co_await VPC("CreateForwardEntry", dnat);
    CO_ASSERT_API_OK(fwd);
    const std::string fwd_id = (*fwd)["ForwardEntryId"];
    EXPECT_EQ(fwd_id.substr(0, 4), "fwd-");
    EXPECT_EQ(CodeOf(co_await VPC("CreateForwardEntry", dnat)), "InvalidForwardEntry.Duplicate");
    Json fe = co_await ONE("DescribeForwardTableEntries", {{"ForwardTableId", forward_table}},
                           "ForwardTableEntries", "ForwardTableEntry");
    EXPECT_EQ(fe["ForwardEntryId"], fwd_id);
    EXPECT_EQ(fe["ForwardTableId"], forward_table);
    EXPECT_EQ(fe["ExternalIp"], address);
    EXPECT_EQ(fe["ExternalPort"], "8080");
    EXPECT_EQ(fe["InternalIp"], "10.0.1.1");
    EXPECT_EQ(fe["InternalPort"], "80");
    EXPECT_EQ(fe["IpProtocol"], "TCP");
    EXPECT_EQ(fe["Status"], "Available");
    EXPECT_EQ(fe["ForwardEntryName"], "web");

    // The gateway refuses to go while it has entries and EIPs.
    EXPECT_EQ(CodeOf(co_await VPC("DeleteNatGateway", {{"NatGatewayId", nat_id}})),
              "DependencyViolation.SnatEntry");
    EXPECT_EQ(CodeOf(co_await VPC("UnassociateEipAddress", {{"AllocationId", allocation}})),
              "DependencyViolation.SnatEntry");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteNatGateway", {{"NatGatewayId", nat_id}}, &b_)),
              "InvalidNatGatewayId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteSnatEntry",
                                  {{"SnatTableId", snat_table}, {"SnatEntryId", "snat-nosuch"}})),
              "InvalidSnatEntryId.NotFound");
    CO_ASSERT_API_OK(
        co_await VPC("DeleteSnatEntry", {{"SnatTableId", snat_table}, {"SnatEntryId", snat_id}}));
    EXPECT_EQ(CodeOf(co_await VPC("DeleteNatGateway", {{"NatGatewayId", nat_id}})),
              "DependencyViolation.ForwardEntry");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteForwardEntry", {{"ForwardTableId", forward_table},
                                                         {"ForwardEntryId", "fwd-nosuch"}})),
              "InvalidForwardEntryId.NotFound");
    CO_ASSERT_API_OK(co_await VPC("DeleteForwardEntry",
                                  {{"ForwardTableId", forward_table}, {"ForwardEntryId", fwd_id}}));
    EXPECT_EQ(CodeOf(co_await VPC("DeleteNatGateway", {{"NatGatewayId", nat_id}})),
              "DependencyViolation.EIPS");

    // DeleteVpc names the NAT gateway once the vSwitch is gone.
    CO_ASSERT_OK(co_await vpcs_.DeleteInterface(eni));
    CO_ASSERT_API_OK(co_await VPC("DeleteVSwitch", {{"VSwitchId", vswitch}}));
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpc", {{"VpcId", vpc}})),
              "DependencyViolation.NatGateway");

    // Force takes the SNAT entries and EIPs with it.
    CO_ASSERT_API_OK(co_await VPC(
        "CreateSnatEntry",
        {{"SnatTableId", snat_table}, {"SnatIp", address}, {"SourceCIDR", "10.0.2.0/24"}}));
    CO_ASSERT_API_OK(
        co_await VPC("DeleteNatGateway", {{"NatGatewayId", nat_id}, {"Force", "true"}}));
    auto nats = co_await Vpc0("DescribeNatGateways");
    CO_ASSERT_API_OK(nats);
    EXPECT_EQ((*nats)["TotalCount"], 0);
    e = co_await ONE("DescribeEipAddresses", {{"AllocationId", allocation}}, "EipAddresses",
                     "EipAddress");
    EXPECT_EQ(e["Status"], "Available");
    auto no_default = co_await VPC("DescribeRouteEntryList",
                                   {{"RouteTableId", table}, {"RouteEntryType", "Custom"}});
    CO_ASSERT_API_OK(no_default);
    EXPECT_EQ((*no_default)["RouteEntrys"]["RouteEntry"].size(), 0u);

    CO_ASSERT_API_OK(co_await VPC("ReleaseEipAddress", {{"AllocationId", allocation}}));
    auto released = co_await VPC("DescribeEipAddresses", {{"AllocationId", allocation}});
    CO_ASSERT_API_OK(released);
    EXPECT_EQ((*released)["TotalCount"], 0);
    CO_ASSERT_API_OK(co_await VPC("DeleteVpc", {{"VpcId", vpc}}));

    // Quota.
    settings_.quotas.eips = 1;
    auto over = co_await Vpc0("AllocateEipAddress");
    EXPECT_EQ(CodeOf(over), "QuotaExceeded.Eip");
    if (!over.ok()) {
      EXPECT_EQ(over.error().http_status, 400);
    }
  }());
}

TEST_F(GatewayActionsTest, VpnOverGre) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    CO_ASSERT_TRUE(co_await PublicSide());
    const std::string vpc = co_await MakeVpc("10.0.0.0/16");
    CO_ASSERT_TRUE(!vpc.empty());
    const std::string table = "vtb-" + vpc.substr(4);

    EXPECT_EQ(CodeOf(co_await VPC("CreateVpnGateway", {{"VpcId", vpc}})), "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpnGateway", {{"VpcId", vpc}, {"Bandwidth", "10"}}, &b_)),
              "InvalidVpcId.NotFound");
    auto vpn = co_await VPC("CreateVpnGateway", {{"VpcId", vpc},
                                                 {"Bandwidth", "10"},
                                                 {"EnableIpsec", "true"},
                                                 {"Name", "office"},
                                                 {"InstanceChargeType", "POSTPAY"}});
    CO_ASSERT_API_OK(vpn);
    const std::string vpn_id = (*vpn)["VpnGatewayId"];
    EXPECT_EQ(vpn_id.substr(0, 4), "vpn-");
    Json g = co_await ONE("DescribeVpnGateways", {{"VpcId", vpc}}, "VpnGateways", "VpnGateway");
    EXPECT_EQ(g["VpnGatewayId"], vpn_id);
    EXPECT_EQ(g["VpcId"], vpc);
    EXPECT_EQ(g["Name"], "office");
    EXPECT_EQ(g["Status"], "active");
    EXPECT_EQ(g["Spec"], "10M");
    EXPECT_EQ(g["InternetIp"], "");  // no connection, no GRE link yet
    EXPECT_EQ(g["TunnelProtocol"], "GRE");
    EXPECT_TRUE(g["CreateTime"].is_number());
    EXPECT_GT(g["CreateTime"].get<int64_t>(), int64_t{1'600'000'000'000});  // milliseconds
    auto b_vpns = co_await Vpc0("DescribeVpnGateways", &b_);
    CO_ASSERT_API_OK(b_vpns);
    EXPECT_EQ((*b_vpns)["TotalCount"], 0);

    EXPECT_EQ(CodeOf(co_await Vpc0("CreateCustomerGateway")), "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateCustomerGateway", {{"IpAddress", "198.51.100"}})),
              "InvalidIpAddress.Malformed");
    auto cgw = co_await VPC("CreateCustomerGateway",
                            {{"IpAddress", "198.51.100.7"}, {"Asn", "65001"}, {"Name", "hq"}});
    CO_ASSERT_API_OK(cgw);
    const std::string cgw_id = (*cgw)["CustomerGatewayId"];
    EXPECT_EQ(cgw_id.substr(0, 4), "cgw-");
    EXPECT_TRUE((*cgw)["CreateTime"].is_number());

    const Params connection{{"VpnGatewayId", vpn_id},
                            {"CustomerGatewayId", cgw_id},
                            {"LocalSubnet", "10.0.0.0/16"},
                            {"RemoteSubnet", "192.168.10.0/24,192.168.20.0/24"},
                            {"Name", "to-hq"},
                            {"IkeConfig", R"({"IkeVersion":"ikev2","Psk":"secret"})"},
                            {"IpsecConfig", R"({"IpsecEncAlg":"aes"})"},
                            {"TunnelOptionsSpecification.1.TunnelIndex", "1"}};
    Params no_remote = connection;
    no_remote.erase("RemoteSubnet");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpnConnection", no_remote)), "MissingParameter");
    Params bad_remote = connection;
    bad_remote["RemoteSubnet"] = "192.168.10.0/99";
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpnConnection", bad_remote)),
              "InvalidRemoteSubnet.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpnConnection", connection, &b_)),
              "InvalidVpnGatewayInstanceId.NotFound");
    auto b_cgw = co_await VPC("CreateCustomerGateway", {{"IpAddress", "198.51.100.8"}}, &b_);
    CO_ASSERT_API_OK(b_cgw);
    Params foreign = connection;
    foreign["CustomerGatewayId"] = (*b_cgw)["CustomerGatewayId"].get<std::string>();
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpnConnection", foreign)),
              "InvalidCustomerGatewayInstanceId.NotFound");

    auto conn = co_await VPC("CreateVpnConnection", connection);
    CO_ASSERT_API_OK(conn);
    const std::string conn_id = (*conn)["VpnConnectionId"];
    EXPECT_EQ(conn_id.substr(0, 4), "vco-");
    EXPECT_TRUE((*conn)["CreateTime"].is_number());

    Json c = co_await ONE("DescribeVpnConnections", {{"VpnGatewayId", vpn_id}}, "VpnConnections",
                          "VpnConnection");
    EXPECT_EQ(c["VpnConnectionId"], conn_id);
    EXPECT_EQ(c["VpnGatewayId"], vpn_id);
    EXPECT_EQ(c["CustomerGatewayId"], cgw_id);
    EXPECT_EQ(c["LocalSubnet"], "10.0.0.0/16");
    EXPECT_EQ(c["RemoteSubnet"], "192.168.10.0/24,192.168.20.0/24");
    EXPECT_EQ(c["Name"], "to-hq");
    EXPECT_EQ(c["Status"], "ipsec_sa_not_established");
    EXPECT_EQ(c["TunnelProtocol"], "GRE");
    EXPECT_EQ(c["IkeConfig"]["IkeVersion"], "ikev2");
    EXPECT_EQ(c["IpsecConfig"]["IpsecEncAlg"], "aes");
    g = co_await ONE("DescribeVpnGateways", {{"VpnGatewayId", vpn_id}}, "VpnGateways",
                     "VpnGateway");
    EXPECT_EQ(g["InternetIp"], "203.0.113.2");

    // A route of the VPC to each remote subnet, through the VPN gateway.
    auto routes = co_await VPC("DescribeRouteEntryList",
                               {{"RouteTableId", table}, {"RouteEntryType", "Custom"}});
    CO_ASSERT_API_OK(routes);
    const Json& entries = (*routes)["RouteEntrys"]["RouteEntry"];
    CO_ASSERT_EQ(entries.size(), 2u);
    for (const auto& r : entries) {
      EXPECT_EQ(r["NextHops"]["NextHop"][0]["NextHopType"], "VpnGateway");
      EXPECT_EQ(r["NextHops"]["NextHop"][0]["NextHopId"], vpn_id);
    }
    // CreateRouteEntry may name the VPN gateway as next hop too.
    auto extra = co_await VPC("CreateRouteEntry", {{"RouteTableId", table},
                                                   {"DestinationCidrBlock", "192.168.30.0/24"},
                                                   {"NextHopType", "VpnGateway"},
                                                   {"NextHopId", vpn_id}});
    CO_ASSERT_API_OK(extra);

    // DeleteVpc: the routes come before the gateway itself.
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpc", {{"VpcId", vpc}})),
              "DependencyViolation.RouteEntry");
    const std::string extra_id = (*extra)["RouteEntryId"];
    CO_ASSERT_API_OK(co_await VPC("DeleteRouteEntry", {{"RouteEntryId", extra_id}}));
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpnGateway", {{"VpnGatewayId", vpn_id}})),
              "DependencyViolation.VpnConnection");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpnConnection", {{"VpnConnectionId", conn_id}}, &b_)),
              "InvalidVpnConnectionId.NotFound");
    CO_ASSERT_API_OK(co_await VPC("DeleteVpnConnection", {{"VpnConnectionId", conn_id}}));
    auto after = co_await VPC("DescribeRouteEntryList",
                              {{"RouteTableId", table}, {"RouteEntryType", "Custom"}});
    CO_ASSERT_API_OK(after);
    EXPECT_EQ((*after)["RouteEntrys"]["RouteEntry"].size(), 0u);
    auto links = co_await vpcs_.Read();
    CO_ASSERT_OK(links.status());
    EXPECT_TRUE(links->vpn_gateways.empty()) << "the GRE link went with its connection";
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpc", {{"VpcId", vpc}})),
              "DependencyViolation.VpnGateway");
    CO_ASSERT_API_OK(co_await VPC("DeleteCustomerGateway", {{"CustomerGatewayId", cgw_id}}));
    CO_ASSERT_API_OK(co_await VPC("DeleteVpnGateway", {{"VpnGatewayId", vpn_id}}));
    CO_ASSERT_API_OK(co_await VPC("DeleteVpc", {{"VpcId", vpc}}));
  }());
}

}  // namespace
}  // namespace tg::api::testing
