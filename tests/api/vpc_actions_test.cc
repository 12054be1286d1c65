// The VPC product's VPC, vSwitch and route actions against a real etcd and
// the real VPC store (no chunkservers: nothing here needs a disk): each
// reply's shape, each error code, and tenancy between two accounts.
#include <gtest/gtest.h>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "network/model/address.h"

namespace tg::api::testing {
namespace {

using tg::testing::RunTask;

// A call through the table whose parameters may be a braced list: the list
// is built in a plain lambda, since GCC 12 rejects a braced list of string
// pairs inside a co_await expression.
#define VPC(...) ([&] { return Vpc(__VA_ARGS__); }())

class VpcActionsTest : public ApiTest {
 protected:
  // An action without parameters (no braced temporary inside a co_await).
  Task<ApiResult<Json>> Vpc0(std::string action, const Account* as = nullptr) {
    return Vpc(std::move(action), Params(), as);
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
};

TEST_F(VpcActionsTest, RegionsAndZones) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto regions = co_await Vpc0("DescribeRegions");
    CO_ASSERT_API_OK(regions);
    const Json& region = (*regions)["Regions"]["Region"];
    CO_ASSERT_EQ(region.size(), 1u);
    EXPECT_EQ(region[0]["RegionId"], "cn-tiangong");
    EXPECT_EQ(region[0]["LocalName"], "Tiangong");
    EXPECT_EQ(region[0]["RegionEndpoint"], "127.0.0.1");

    EXPECT_EQ(CodeOf(co_await Vpc0("DescribeZones")), "MissingParameter");
    auto elsewhere = co_await VPC("DescribeZones", {{"RegionId", "cn-hangzhou"}});
    EXPECT_EQ(CodeOf(elsewhere), "InvalidRegionId.NotFound");
    if (!elsewhere.ok()) {
      EXPECT_EQ(elsewhere.error().http_status, 404);
    }
    // No compute node registered: the default zone a node gets.
    auto zones = co_await VPC("DescribeZones", {{"RegionId", "cn-tiangong"}});
    CO_ASSERT_API_OK(zones);
    const Json& zone = (*zones)["Zones"]["Zone"];
    CO_ASSERT_EQ(zone.size(), 1u);
    EXPECT_EQ(zone[0]["ZoneId"], "z1");
    EXPECT_EQ(zone[0]["LocalName"], "z1");
    EXPECT_EQ(zone[0]["ZoneType"], "AvailabilityZone");
  }());
}

TEST_F(VpcActionsTest, VpcsVSwitchesRoutesAndTenancy) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());

    // CreateVpc: parameters refused first.
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpc", {{"CidrBlock", "10.0.0.0/33"}})),
              "InvalidCidrBlock.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpc", {{"CidrBlock", "100.64.0.0/16"}})),
              "InvalidCidrBlock.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpc", {{"CidrBlock", "10.0.0.0/29"}})),
              "InvalidCidrBlock.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpc", {{"Bogus", "1"}})), "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVpc", {{"VpcName", "http://x"}})), "InvalidParameter");

    // The default block, and one with every attribute.
    auto plain = co_await Vpc0("CreateVpc");
    CO_ASSERT_API_OK(plain);
    auto made = co_await VPC("CreateVpc", {{"CidrBlock", "10.0.0.0/16"},
                                           {"VpcName", "prod"},
                                           {"Description", "the production network"},
                                           {"UserCidr", "10.1.0.0/16"},
                                           {"ResourceGroupId", "rg-x"},
                                           {"Tag.1.Key", "env"},
                                           {"Tag.1.Value", "prod"}});
    CO_ASSERT_API_OK(made);
    const std::string vpc = (*made)["VpcId"];
    const std::string suffix = vpc.substr(4);
    EXPECT_EQ(vpc.substr(0, 4), "vpc-");
    EXPECT_EQ((*made)["VRouterId"], "vrt-" + suffix);
    EXPECT_EQ((*made)["RouteTableId"], "vtb-" + suffix);
    EXPECT_EQ((*made)["ResourceGroupId"], "rg-default");
    const std::string table = (*made)["RouteTableId"];

    // DescribeVpcs: every field.
    auto list = co_await VPC("DescribeVpcs", {{"VpcId", vpc + ",vpc-unknown"}});
    CO_ASSERT_API_OK(list);
    EXPECT_EQ((*list)["TotalCount"], 1);
    EXPECT_EQ((*list)["PageNumber"], 1);
    EXPECT_EQ((*list)["PageSize"], 10);
    CO_ASSERT_EQ((*list)["Vpcs"]["Vpc"].size(), 1u);
    const Json v = (*list)["Vpcs"]["Vpc"][0];
    EXPECT_EQ(v["VpcId"], vpc);
    EXPECT_EQ(v["VpcName"], "prod");
    EXPECT_EQ(v["Status"], "Available");
    EXPECT_EQ(v["CidrBlock"], "10.0.0.0/16");
    EXPECT_EQ(v["VRouterId"], "vrt-" + suffix);
    EXPECT_EQ(v["Description"], "the production network");
    EXPECT_EQ(v["IsDefault"], false);
    EXPECT_EQ(v["RegionId"], "cn-tiangong");
    EXPECT_TRUE(v["CreationTime"].is_string());
    EXPECT_EQ(v["CreationTime"].get<std::string>().size(), 20u);  // 2026-12-02T03:00:00Z
    EXPECT_EQ(v["VSwitchIds"]["VSwitchId"], Json::array());
    EXPECT_EQ(v["RouterTableIds"]["RouterTableIds"], Json::array({table}));
    EXPECT_EQ(v["NatGatewayIds"]["NatGatewayIds"], Json::array());
    EXPECT_EQ(v["UserCidrs"]["UserCidr"], Json::array({"10.1.0.0/16"}));
    EXPECT_EQ(v["Tags"]["Tag"], Json::parse(R"([{"Key":"env","Value":"prod"}])"));

    auto all = co_await Vpc0("DescribeVpcs");
    CO_ASSERT_API_OK(all);
    EXPECT_EQ((*all)["TotalCount"], 2);
    auto by_name = co_await VPC("DescribeVpcs", {{"VpcName", "prod"}});
    CO_ASSERT_API_OK(by_name);
    EXPECT_EQ((*by_name)["TotalCount"], 1);
    auto defaults = co_await VPC("DescribeVpcs", {{"IsDefault", "true"}});
    CO_ASSERT_API_OK(defaults);
    EXPECT_EQ((*defaults)["TotalCount"], 0);
    auto page1 = co_await VPC("DescribeVpcs", {{"PageSize", "1"}, {"PageNumber", "1"}});
    auto page2 = co_await VPC("DescribeVpcs", {{"PageSize", "1"}, {"PageNumber", "2"}});
    CO_ASSERT_API_OK(page1);
    CO_ASSERT_API_OK(page2);
    CO_ASSERT_EQ((*page1)["Vpcs"]["Vpc"].size(), 1u);
    CO_ASSERT_EQ((*page2)["Vpcs"]["Vpc"].size(), 1u);
    EXPECT_EQ((*page2)["TotalCount"], 2);
    EXPECT_EQ((*page2)["PageNumber"], 2);
    EXPECT_EQ((*page2)["PageSize"], 1);
    EXPECT_NE((*page1)["Vpcs"]["Vpc"][0]["VpcId"], (*page2)["Vpcs"]["Vpc"][0]["VpcId"]);
    EXPECT_EQ(CodeOf(co_await VPC("DescribeVpcs", {{"PageSize", "51"}})), "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await VPC("DescribeVpcs", {{"IsDefault", "maybe"}})), "InvalidParameter");

    // DescribeVpcAttribute: flat, and the 404 Terraform needs.
    auto attr = co_await VPC("DescribeVpcAttribute", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(attr);
    EXPECT_EQ((*attr)["VpcId"], vpc);
    EXPECT_EQ((*attr)["Status"], "Available");
    EXPECT_EQ((*attr)["RouterTableIds"]["RouterTableIds"], Json::array({table}));
    EXPECT_EQ(CodeOf(co_await Vpc0("DescribeVpcAttribute")), "MissingParameter");
    auto missing = co_await VPC("DescribeVpcAttribute", {{"VpcId", "vpc-nosuchvpc"}});
    EXPECT_EQ(CodeOf(missing), "InvalidVpcId.NotFound");
    if (!missing.ok()) {
      EXPECT_EQ(missing.error().http_status, 404);
    }

    // Tenancy: B sees none of A's and cannot touch them.
    auto b_list = co_await Vpc0("DescribeVpcs", &b_);
    CO_ASSERT_API_OK(b_list);
    EXPECT_EQ((*b_list)["TotalCount"], 0);
    EXPECT_EQ(CodeOf(co_await VPC("DescribeVpcAttribute", {{"VpcId", vpc}}, &b_)),
              "InvalidVpcId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("ModifyVpcAttribute", {{"VpcId", vpc}, {"VpcName", "x"}}, &b_)),
              "InvalidVpcId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpc", {{"VpcId", vpc}}, &b_)), "InvalidVpcId.NotFound");

    // ModifyVpcAttribute: names live in the ownership record.
    CO_ASSERT_API_OK(co_await VPC("ModifyVpcAttribute",
                                  {{"VpcId", vpc}, {"VpcName", "renamed"}, {"Description", "d2"}}));
    auto renamed = co_await VPC("DescribeVpcAttribute", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(renamed);
    EXPECT_EQ((*renamed)["VpcName"], "renamed");
    EXPECT_EQ((*renamed)["Description"], "d2");
    EXPECT_EQ(
        CodeOf(co_await VPC("ModifyVpcAttribute", {{"VpcId", vpc}, {"CidrBlock", "10.0.0.0/8"}})),
        "InvalidParameter");

    // CreateVSwitch: each CIDR error, the zone, tenancy.
    auto vsw = [&](std::string cidr) {
      return Params{{"VpcId", vpc}, {"ZoneId", "z1"}, {"CidrBlock", std::move(cidr)}};
    };
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", {{"VpcId", vpc}, {"CidrBlock", "10.0.1.0/24"}})),
              "MissingParameter");
    EXPECT_EQ(
        CodeOf(co_await VPC("CreateVSwitch",
                            {{"VpcId", vpc}, {"ZoneId", "z9"}, {"CidrBlock", "10.0.1.0/24"}})),
        "InvalidZoneId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("10.0.1.1/24"))),
              "InvalidCidrBlock.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("10.0.1.0/30"))),
              "InvalidCirdrBlock.MaskLength");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("10.0.0.0/15"))),
              "InvalidCirdrBlock.MaskLength");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("10.9.0.0/24"))), "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("169.254.1.0/24"))),
              "InvalidCidrBlock.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("10.0.1.0/24"), &b_)),
              "InvalidVpcId.NotFound");
    Params full = vsw("10.0.1.0/24");
    full["VSwitchName"] = "web";
    full["Description"] = "front";
    full["Tag.1.Key"] = "tier";
    full["Tag.1.Value"] = "web";
    auto made_vsw = co_await VPC("CreateVSwitch", full);
    CO_ASSERT_API_OK(made_vsw);
    const std::string vswitch = (*made_vsw)["VSwitchId"];
    EXPECT_EQ(vswitch.substr(0, 4), "vsw-");
    EXPECT_EQ(CodeOf(co_await VPC("CreateVSwitch", vsw("10.0.1.128/25"))),
              "InvalidCidrBlock.Overlapped");

    // DescribeVSwitches: every field; the address count follows interfaces.
    const std::string eni = co_await OwnedInterface(vswitch, a_);
    CO_ASSERT_TRUE(!eni.empty());
    auto switches = co_await VPC("DescribeVSwitches", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(switches);
    EXPECT_EQ((*switches)["TotalCount"], 1);
    CO_ASSERT_EQ((*switches)["VSwitches"]["VSwitch"].size(), 1u);
    const Json s = (*switches)["VSwitches"]["VSwitch"][0];
    EXPECT_EQ(s["VSwitchId"], vswitch);
    EXPECT_EQ(s["VSwitchName"], "web");
    EXPECT_EQ(s["VpcId"], vpc);
    EXPECT_EQ(s["ZoneId"], "z1");
    EXPECT_EQ(s["CidrBlock"], "10.0.1.0/24");
    EXPECT_EQ(s["Status"], "Available");
    EXPECT_EQ(s["AvailableIpAddressCount"], 251);  // 252 usable, one interface
    EXPECT_EQ(s["Description"], "front");
    EXPECT_EQ(s["IsDefault"], false);
    EXPECT_EQ(s["RouteTable"]["RouteTableId"], table);
    EXPECT_EQ(s["RouteTable"]["RouteTableType"], "System");
    EXPECT_EQ(s["Tags"]["Tag"], Json::parse(R"([{"Key":"tier","Value":"web"}])"));
    for (const auto& [k, val] : std::vector<std::pair<std::string, std::string>>{
             {"VSwitchId", vswitch}, {"ZoneId", "z1"}, {"VSwitchName", "web"}}) {
      auto filtered = co_await VPC("DescribeVSwitches", {{k, val}});
      CO_ASSERT_API_OK(filtered);
      EXPECT_EQ((*filtered)["TotalCount"], 1) << k;
    }
    auto other_zone = co_await VPC("DescribeVSwitches", {{"ZoneId", "z2"}});
    CO_ASSERT_API_OK(other_zone);
    EXPECT_EQ((*other_zone)["TotalCount"], 0);
    auto b_switches = co_await Vpc0("DescribeVSwitches", &b_);
    CO_ASSERT_API_OK(b_switches);
    EXPECT_EQ((*b_switches)["TotalCount"], 0);
    auto vsw_attr = co_await VPC("DescribeVSwitchAttributes", {{"VSwitchId", vswitch}});
    CO_ASSERT_API_OK(vsw_attr);
    EXPECT_EQ((*vsw_attr)["AvailableIpAddressCount"], 251);
    auto vsw_missing = co_await VPC("DescribeVSwitchAttributes", {{"VSwitchId", "vsw-nope"}});
    EXPECT_EQ(CodeOf(vsw_missing), "InvalidVSwitchId.NotFound");
    if (!vsw_missing.ok()) {
      EXPECT_EQ(vsw_missing.error().http_status, 404);
    }
    EXPECT_EQ(CodeOf(co_await VPC("DescribeVSwitchAttributes", {{"VSwitchId", vswitch}}, &b_)),
              "InvalidVSwitchId.NotFound");
    auto with_vsw = co_await VPC("DescribeVpcAttribute", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(with_vsw);
    EXPECT_EQ((*with_vsw)["VSwitchIds"]["VSwitchId"], Json::array({vswitch}));

    // Route tables.
    auto tables = co_await VPC("DescribeRouteTableList", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(tables);
    CO_ASSERT_EQ((*tables)["RouterTableList"]["RouterTableListType"].size(), 1u);
    const Json t = (*tables)["RouterTableList"]["RouterTableListType"][0];
    EXPECT_EQ(t["RouteTableId"], table);
    EXPECT_EQ(t["RouteTableType"], "System");
    EXPECT_EQ(t["RouterId"], "vrt-" + suffix);
    EXPECT_EQ(t["RouterType"], "VRouter");
    EXPECT_EQ(t["VpcId"], vpc);
    EXPECT_EQ(t["Status"], "Available");
    EXPECT_EQ(t["VSwitchIds"]["VSwitchId"], Json::array({vswitch}));
    auto custom = co_await VPC("DescribeRouteTableList", {{"RouteTableType", "Custom"}});
    CO_ASSERT_API_OK(custom);
    EXPECT_EQ((*custom)["TotalCount"], 0);

    // CreateRouteEntry: errors, then a route to the interface.
    auto route = [&](std::string destination) {
      return Params{{"RouteTableId", table},
                    {"DestinationCidrBlock", std::move(destination)},
                    {"NextHopType", "NetworkInterface"},
                    {"NextHopId", eni}};
    };
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry", route("192.168.0.0/33"))),
              "InvalidDestinationCidrBlock.Malformed");
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry", route("10.0.1.0/25"))), "InvalidParameter");
    Params unknown_table = route("192.168.0.0/16");
    unknown_table["RouteTableId"] = "vtb-nosuchtable";
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry", unknown_table)),
              "InvalidRouteTableId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry", route("192.168.0.0/16"), &b_)),
              "InvalidRouteTableId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry", {{"RouteTableId", table},
                                                       {"DestinationCidrBlock", "192.168.0.0/16"},
                                                       {"NextHopId", "i-nosuchinstance"}})),
              "InvalidInstanceId.NotFound");
    Params named = route("192.168.0.0/16");
    named["RouteEntryName"] = "onprem";
    auto entry = co_await VPC("CreateRouteEntry", named);
    CO_ASSERT_API_OK(entry);
    const std::string entry_id = (*entry)["RouteEntryId"];
    EXPECT_EQ(entry_id.substr(0, 4), "rte-");
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry", route("192.168.0.0/16"))),
              "InvalidRouteEntry.Duplicate");
    CO_ASSERT_API_OK(co_await VPC("CreateRouteEntry", route("172.31.0.0/16")));

    // B may not route its own VPC to A's interface.
    auto b_vpc = co_await VPC("CreateVpc", {{"CidrBlock", "10.0.0.0/16"}}, &b_);
    CO_ASSERT_API_OK(b_vpc);
    const std::string b_table = (*b_vpc)["RouteTableId"];
    EXPECT_EQ(CodeOf(co_await VPC("CreateRouteEntry",
                                  {{"RouteTableId", b_table},
                                   {"DestinationCidrBlock", "192.168.0.0/16"},
                                   {"NextHopType", "NetworkInterface"},
                                   {"NextHopId", eni}},
                                  &b_)),
              "InvalidEniId.NotFound");

    // DescribeRouteTables: the system entry of the vSwitch and the custom ones.
    auto routes = co_await VPC("DescribeRouteTables", {{"RouteTableId", table}});
    CO_ASSERT_API_OK(routes);
    CO_ASSERT_EQ((*routes)["RouteTables"]["RouteTable"].size(), 1u);
    const Json rt = (*routes)["RouteTables"]["RouteTable"][0];
    EXPECT_EQ(rt["RouteTableId"], table);
    EXPECT_EQ(rt["VRouterId"], "vrt-" + suffix);
    const Json& entries = rt["RouteEntrys"]["RouteEntry"];
    CO_ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0]["DestinationCidrBlock"], "10.0.1.0/24");
    EXPECT_EQ(entries[0]["Type"], "System");
    EXPECT_EQ(entries[0]["NextHopType"], "local");
    EXPECT_EQ(entries[0]["Status"], "Available");
    EXPECT_EQ(entries[1]["RouteEntryId"], entry_id);
    EXPECT_EQ(entries[1]["DestinationCidrBlock"], "192.168.0.0/16");
    EXPECT_EQ(entries[1]["Type"], "Custom");
    EXPECT_EQ(entries[1]["NextHopType"], "NetworkInterface");
    EXPECT_EQ(entries[1]["InstanceId"], eni);
    EXPECT_EQ(entries[1]["RouteEntryName"], "onprem");
    EXPECT_EQ(entries[1]["Status"], "Available");

    // DescribeRouteEntryList: token paging and filters.
    auto first =
        co_await VPC("DescribeRouteEntryList", {{"RouteTableId", table}, {"MaxResult", "2"}});
    CO_ASSERT_API_OK(first);
    EXPECT_EQ((*first)["RouteEntrys"]["RouteEntry"].size(), 2u);
    EXPECT_EQ((*first)["NextToken"], "2");
    auto rest = co_await VPC("DescribeRouteEntryList",
                             {{"RouteTableId", table}, {"MaxResult", "2"}, {"NextToken", "2"}});
    CO_ASSERT_API_OK(rest);
    CO_ASSERT_EQ((*rest)["RouteEntrys"]["RouteEntry"].size(), 1u);
    EXPECT_EQ((*rest)["NextToken"], "");
    auto one = co_await VPC("DescribeRouteEntryList",
                            {{"RouteTableId", table}, {"RouteEntryId", entry_id}});
    CO_ASSERT_API_OK(one);
    CO_ASSERT_EQ((*one)["RouteEntrys"]["RouteEntry"].size(), 1u);
    const Json listed = (*one)["RouteEntrys"]["RouteEntry"][0];
    EXPECT_EQ(listed["Type"], "Custom");
    EXPECT_EQ(listed["NextHops"]["NextHop"][0]["NextHopType"], "NetworkInterface");
    EXPECT_EQ(listed["NextHops"]["NextHop"][0]["NextHopId"], eni);
    auto system = co_await VPC("DescribeRouteEntryList",
                               {{"RouteTableId", table}, {"RouteEntryType", "System"}});
    CO_ASSERT_API_OK(system);
    EXPECT_EQ((*system)["RouteEntrys"]["RouteEntry"].size(), 1u);
    EXPECT_EQ(CodeOf(co_await Vpc0("DescribeRouteEntryList")), "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("DescribeRouteEntryList", {{"RouteTableId", table}}, &b_)),
              "InvalidRouteTableId.NotFound");

    // DeleteVpc refuses while children remain, naming them.
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpc", {{"VpcId", vpc}})), "DependencyViolation.VSwitch");

    // DeleteRouteEntry: by id, by table and destination; system and unknown ones.
    EXPECT_EQ(CodeOf(co_await VPC("DeleteRouteEntry", {{"RouteTableId", table}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteRouteEntry", {{"RouteTableId", table},
                                                       {"DestinationCidrBlock", "10.0.1.0/24"}})),
              "InvalidParameter");
    auto gone = co_await VPC("DeleteRouteEntry", {{"RouteEntryId", "rte-nosuchentry"}});
    EXPECT_EQ(CodeOf(gone), "InvalidRouteEntry.NotFound");
    if (!gone.ok()) {
      EXPECT_EQ(gone.error().http_status, 404);
    }
    EXPECT_EQ(CodeOf(co_await VPC("DeleteRouteEntry", {{"RouteEntryId", entry_id}}, &b_)),
              "InvalidRouteEntry.NotFound");
    CO_ASSERT_API_OK(co_await VPC("DeleteRouteEntry", {{"RouteEntryId", entry_id}}));
    CO_ASSERT_API_OK(co_await VPC(
        "DeleteRouteEntry",
        {{"RouteTableId", table}, {"DestinationCidrBlock", "172.31.0.0/16"}, {"NextHopId", eni}}));
    auto emptied = co_await VPC("DescribeRouteEntryList",
                                {{"RouteTableId", table}, {"RouteEntryType", "Custom"}});
    CO_ASSERT_API_OK(emptied);
    EXPECT_EQ((*emptied)["RouteEntrys"]["RouteEntry"].size(), 0u);

    // DeleteVSwitch refuses while it holds an interface.
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVSwitch", {{"VSwitchId", vswitch}}, &b_)),
              "InvalidVSwitchId.NotFound");
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVSwitch", {{"VSwitchId", vswitch}})),
              "DependencyViolation");
    CO_ASSERT_OK(co_await vpcs_.DeleteInterface(eni));
    CO_ASSERT_API_OK(co_await VPC("DeleteVSwitch", {{"VSwitchId", vswitch}}));
    EXPECT_EQ(CodeOf(co_await VPC("DescribeVSwitchAttributes", {{"VSwitchId", vswitch}})),
              "InvalidVSwitchId.NotFound");

    // A security group (ECS's, made through the store here) blocks too.
    auto group = co_await vpcs_.CreateSecurityGroup(vpc, "g");
    CO_ASSERT_OK(group.status());
    EXPECT_EQ(CodeOf(co_await VPC("DeleteVpc", {{"VpcId", vpc}})),
              "DependencyViolation.SecurityGroup");
    CO_ASSERT_OK(co_await vpcs_.DeleteSecurityGroup(group->id));

    CO_ASSERT_API_OK(co_await VPC("DeleteVpc", {{"VpcId", vpc}, {"ForceDelete", "false"}}));
    EXPECT_EQ(CodeOf(co_await VPC("DescribeVpcAttribute", {{"VpcId", vpc}})),
              "InvalidVpcId.NotFound");
    auto after = co_await Vpc0("DescribeVpcs");
    CO_ASSERT_API_OK(after);
    EXPECT_EQ((*after)["TotalCount"], 1);

    // Quota: A holds one VPC now.
    settings_.quotas.vpcs = 1;
    auto over = co_await Vpc0("CreateVpc");
    EXPECT_EQ(CodeOf(over), "QuotaExceeded.Vpc");
    if (!over.ok()) {
      EXPECT_EQ(over.error().http_status, 400);
    }
  }());
}

}  // namespace
}  // namespace tg::api::testing
