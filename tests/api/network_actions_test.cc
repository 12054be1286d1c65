// ECS security groups and ENIs against a real etcd and the real VPC and
// compute stores (no chunkservers: instances are written as records, as the
// compute store leaves them, so attaching needs no disk): each reply's shape,
// each error code, rule round trips as Terraform finds rules again, and
// tenancy between two accounts.
#include <gtest/gtest.h>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "compute/model/records.h"
#include "network/model/vpc.h"

namespace tg::api::testing {
namespace {

class NetworkActionsTest : public ApiTest {
 protected:
  Task<void> Own(const std::string& id, std::string_view kind, const Account& account) {
    ResourceRecord r;
    r.id = id;
    r.kind = std::string(kind);
    r.account = account.id;
    r.created_at = time(nullptr);
    Status s = co_await registry_.Create(r);
    EXPECT_TRUE(s.ok()) << s;
  }
  // A VPC (10.0.0.0/16) with a vSwitch (10.0.1.0/24 in z1), both `account`'s
  // (the VPC actions are another file's: made through the store here).
  Task<std::pair<std::string, std::string>> VpcAndVSwitch(const Account& account,
                                                          std::string zone = "z1") {
    auto cidr = network::ParseCidr("10.0.0.0/16");
    auto vpc = co_await vpcs_.CreateVpc("net", *cidr);
    EXPECT_TRUE(vpc.ok()) << vpc.status();
    if (!vpc.ok()) co_return std::pair<std::string, std::string>{};
    auto sub = network::ParseCidr("10.0.1.0/24");
    auto vsw = co_await vpcs_.CreateVSwitch(vpc->id, *sub, zone);
    EXPECT_TRUE(vsw.ok()) << vsw.status();
    if (!vsw.ok()) co_return std::pair<std::string, std::string>{};
    co_await Own(vpc->id, kind::kVpc, account);
    co_await Own(vsw->id, kind::kVSwitch, account);
    co_return std::pair<std::string, std::string>{vpc->id, vsw->id};
  }
  // An instance record (`status`, in z1) whose primary interface is on
  // `vswitch` in `group`, owned by `account`; as RunInstances leaves it.
  Task<std::pair<std::string, std::string>> Instance(const std::string& vswitch,
                                                     const std::string& group,
                                                     compute::InstanceStatus status,
                                                     const Account& account) {
    const std::string id = "i-" + std::to_string(++instances_) + "testinstance";
    std::vector<std::string> groups;
    groups.push_back(group);
    const std::string port(network::kPortVhostUser);
    auto eni = co_await vpcs_.CreateInterface(vswitch, std::nullopt, groups, "", id, true, port, 1);
    EXPECT_TRUE(eni.ok()) << eni.status();
    if (!eni.ok()) co_return std::pair<std::string, std::string>{};
    compute::Instance inst;
    inst.id = id;
    inst.name = id;
    inst.type = "ecs.t6-c1m1.small";
    inst.zone = "z1";
    inst.status = status;
    inst.nics.push_back(compute::InstanceNic{.eni = eni->id});
    auto put = co_await client().Put(compute::InstanceKey(id), compute::EncodeInstance(inst));
    EXPECT_TRUE(put.ok()) << put.status();
    co_await Own(id, kind::kInstance, account);
    ResourceRecord r;
    r.id = eni->id;
    r.kind = std::string(kind::kEni);
    r.account = account.id;
    r.created_at = time(nullptr);
    r.extra["instance"] = id;
    r.extra["type"] = "Primary";
    Status s = co_await registry_.Create(r);
    EXPECT_TRUE(s.ok()) << s;
    co_return std::pair<std::string, std::string>{id, eni->id};
  }
  Task<compute::Instance> ReadInstance(const std::string& id) {
    auto got = co_await client().Get(compute::InstanceKey(id));
    EXPECT_TRUE(got.ok() && !got->kvs.empty());
    if (!got.ok() || got->kvs.empty()) co_return compute::Instance{};
    auto v = compute::DecodeInstance(got->kvs[0].value);
    co_return v.ok() ? *v : compute::Instance{};
  }
  int instances_ = 0;
};

// The permissions of a group, via DescribeSecurityGroupAttribute.
Json PermissionsOf(ApiResult<Json>& r) {
  if (!r.ok()) return Json::array();
  return (*r)["Permissions"]["Permission"];
}

TEST_F(NetworkActionsTest, SecurityGroupsRulesAndTenancy) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto [vpc, vsw] = co_await VpcAndVSwitch(a_);
    CO_ASSERT_TRUE(!vpc.empty());

    // CreateSecurityGroup: parameters first.
    EXPECT_EQ(CodeOf(co_await ECS("CreateSecurityGroup", {})), "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("CreateSecurityGroup",
                                  {{"VpcId", vpc}, {"SecurityGroupType", "enterprise"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await ECS("CreateSecurityGroup", {{"VpcId", vpc}, {"Bogus", "1"}})),
              "InvalidParameter");
    EXPECT_EQ(
        CodeOf(co_await ECS("CreateSecurityGroup", {{"VpcId", vpc}, {"SecurityGroupName", "x"}})),
        "InvalidParameter");
    auto missing_vpc = co_await ECS("CreateSecurityGroup", {{"VpcId", "vpc-nothere"}});
    EXPECT_EQ(CodeOf(missing_vpc), "InvalidVpcId.NotFound");
    if (!missing_vpc.ok()) {
      EXPECT_EQ(missing_vpc.error().http_status, 404);
    }
    // b cannot make a group in a's VPC.
    EXPECT_EQ(CodeOf(co_await ECS("CreateSecurityGroup", {{"VpcId", vpc}}, &b_)),
              "InvalidVpcId.NotFound");

    auto made = co_await ECS("CreateSecurityGroup", {{"VpcId", vpc},
                                                     {"SecurityGroupName", "web"},
                                                     {"Description", "web servers"},
                                                     {"SecurityGroupType", "normal"},
                                                     {"Tag.1.Key", "env"},
                                                     {"Tag.1.Value", "prod"}});
    CO_ASSERT_API_OK(made);
    const std::string sg = (*made)["SecurityGroupId"];
    EXPECT_EQ(sg.substr(0, 3), "sg-");
    EXPECT_EQ(made->size(), 1u);
    auto other = co_await ECS("CreateSecurityGroup", {{"VpcId", vpc}, {"SecurityGroupName", "db"}});
    CO_ASSERT_API_OK(other);
    const std::string sg2 = (*other)["SecurityGroupId"];

    // DescribeSecurityGroups: shape and filters.
    auto listed = co_await ECS("DescribeSecurityGroups", {{"SecurityGroupId", sg}});
    CO_ASSERT_API_OK(listed);
    EXPECT_EQ((*listed)["RegionId"], "cn-tiangong");
    EXPECT_EQ((*listed)["TotalCount"], 1);
    EXPECT_EQ((*listed)["PageNumber"], 1);
    EXPECT_EQ((*listed)["PageSize"], 10);
    const Json& g = (*listed)["SecurityGroups"]["SecurityGroup"];
    CO_ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0]["SecurityGroupId"], sg);
    EXPECT_EQ(g[0]["SecurityGroupName"], "web");
    EXPECT_EQ(g[0]["Description"], "web servers");
    EXPECT_EQ(g[0]["VpcId"], vpc);
    EXPECT_EQ(g[0]["SecurityGroupType"], "normal");
    EXPECT_EQ(g[0]["CreationTime"].get<std::string>().size(), 17u);  // 2026-12-02T03:04Z
    EXPECT_EQ(g[0]["Tags"]["Tag"][0]["TagKey"], "env");
    EXPECT_EQ(g[0]["Tags"]["Tag"][0]["TagValue"], "prod");
    auto by_ids = co_await ECS("DescribeSecurityGroups",
                               {{"SecurityGroupIds", "[\"" + sg + "\",\"" + sg2 + "\"]"}});
    CO_ASSERT_API_OK(by_ids);
    EXPECT_EQ((*by_ids)["SecurityGroups"]["SecurityGroup"].size(), 2u);
    auto by_tag = co_await ECS("DescribeSecurityGroups",
                               {{"VpcId", vpc}, {"Tag.1.Key", "env"}, {"Tag.1.Value", "prod"}});
    CO_ASSERT_API_OK(by_tag);
    EXPECT_EQ((*by_tag)["SecurityGroups"]["SecurityGroup"].size(), 1u);
    auto by_name = co_await ECS("DescribeSecurityGroups", {{"SecurityGroupName", "db"}});
    CO_ASSERT_API_OK(by_name);
    EXPECT_EQ((*by_name)["SecurityGroups"]["SecurityGroup"][0]["SecurityGroupId"], sg2);
    auto token = co_await ECS("DescribeSecurityGroups", {{"MaxResults", "10"}});
    CO_ASSERT_API_OK(token);
    EXPECT_EQ((*token)["NextToken"], "");
    EXPECT_EQ((*token)["SecurityGroups"]["SecurityGroup"].size(), 2u);
    auto unknown = co_await ECS("DescribeSecurityGroups", {{"SecurityGroupId", "sg-nothere"}});
    CO_ASSERT_API_OK(unknown);
    EXPECT_EQ((*unknown)["SecurityGroups"]["SecurityGroup"].size(), 0u);
    EXPECT_EQ(CodeOf(co_await ECS("DescribeSecurityGroups", {{"SecurityGroupIds", "sg-1"}})),
              "InvalidParameter");
    // b lists none of a's.
    auto bs = co_await ECS("DescribeSecurityGroups", {}, &b_);
    CO_ASSERT_API_OK(bs);
    EXPECT_EQ((*bs)["SecurityGroups"]["SecurityGroup"].size(), 0u);

    // Authorize: as Terraform sends a rule (Permissions.1.*).
    auto ok = co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                      {"Permissions.1.IpProtocol", "tcp"},
                                                      {"Permissions.1.PortRange", "22/22"},
                                                      {"Permissions.1.SourceCidrIp", "0.0.0.0/0"},
                                                      {"Permissions.1.Policy", "accept"},
                                                      {"Permissions.1.Priority", "1"},
                                                      {"Permissions.1.NicType", "intranet"},
                                                      {"Permissions.1.Description", "ssh"}});
    CO_ASSERT_API_OK(ok);
    EXPECT_EQ(ok->size(), 0u);
    // Again: a duplicate is a success that adds nothing.
    auto again =
        co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                {"Permissions.1.IpProtocol", "TCP"},
                                                {"Permissions.1.PortRange", "22/22"},
                                                {"Permissions.1.SourceCidrIp", "0.0.0.0/0"}});
    CO_ASSERT_API_OK(again);
    // The flat, deprecated form; a peer group; ICMP; egress.
    auto flat = co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                        {"IpProtocol", "ICMP"},
                                                        {"PortRange", "-1/-1"},
                                                        {"SourceGroupId", sg2},
                                                        {"Policy", "Drop"},
                                                        {"Priority", "5"}});
    CO_ASSERT_API_OK(flat);
    auto egress =
        co_await ECS("AuthorizeSecurityGroupEgress", {{"SecurityGroupId", sg},
                                                      {"Permissions.1.IpProtocol", "ALL"},
                                                      {"Permissions.1.PortRange", "-1/-1"},
                                                      {"Permissions.1.DestCidrIp", "10.0.0.0/8"},
                                                      {"Permissions.2.IpProtocol", "udp"},
                                                      {"Permissions.2.PortRange", "53/53"},
                                                      {"Permissions.2.DestCidrIp", "8.8.8.8"}});
    CO_ASSERT_API_OK(egress);

    auto attr = co_await ECS("DescribeSecurityGroupAttribute", {{"SecurityGroupId", sg}});
    CO_ASSERT_API_OK(attr);
    EXPECT_EQ((*attr)["SecurityGroupId"], sg);
    EXPECT_EQ((*attr)["VpcId"], vpc);
    EXPECT_EQ((*attr)["SecurityGroupName"], "web");
    EXPECT_EQ((*attr)["InnerAccessPolicy"], "Accept");
    EXPECT_EQ((*attr)["RegionId"], "cn-tiangong");
    Json perms = PermissionsOf(attr);
    CO_ASSERT_EQ(perms.size(), 4u);
    const Json& ssh = perms[0];
    EXPECT_EQ(ssh["Direction"], "ingress");
    EXPECT_EQ(ssh["IpProtocol"], "TCP");
    EXPECT_EQ(ssh["PortRange"], "22/22");
    EXPECT_EQ(ssh["SourceCidrIp"], "0.0.0.0/0");
    EXPECT_EQ(ssh["SourceGroupId"], "");
    EXPECT_EQ(ssh["DestCidrIp"], "");
    EXPECT_EQ(ssh["Policy"], "Accept");
    EXPECT_EQ(ssh["Priority"], "1");  // a string, as Alibaba's
    EXPECT_EQ(ssh["NicType"], "intranet");
    EXPECT_EQ(ssh["Description"], "ssh");
    const std::string ssh_id = ssh["SecurityGroupRuleId"];
    EXPECT_EQ(ssh_id.size(), 24u);
    EXPECT_EQ(ssh_id.substr(0, 4), "sgr-");
    const Json& icmp = perms[1];
    EXPECT_EQ(icmp["IpProtocol"], "ICMP");
    EXPECT_EQ(icmp["PortRange"], "-1/-1");
    EXPECT_EQ(icmp["SourceGroupId"], sg2);
    EXPECT_EQ(icmp["SourceGroupName"], "db");
    EXPECT_EQ(icmp["Policy"], "Drop");
    EXPECT_EQ(icmp["Priority"], "5");
    EXPECT_EQ(perms[2]["Direction"], "egress");
    EXPECT_EQ(perms[2]["IpProtocol"], "ALL");
    EXPECT_EQ(perms[2]["DestCidrIp"], "10.0.0.0/8");
    EXPECT_EQ(perms[3]["DestCidrIp"], "8.8.8.8/32");
    // Terraform finds its rule again: lower-cased protocol and policy,
    // exact port range, CIDR and priority string.
    int found = 0;
    for (const auto& p : perms) {
      std::string proto = p["IpProtocol"], policy = p["Policy"];
      for (auto& ch : proto) ch = static_cast<char>(std::tolower(ch));
      for (auto& ch : policy) ch = static_cast<char>(std::tolower(ch));
      if (proto == "tcp" && p["PortRange"] == "22/22" && p["SourceCidrIp"] == "0.0.0.0/0" &&
          policy == "accept" && p["Priority"] == "1")
        ++found;
    }
    EXPECT_EQ(found, 1);
    // Rule ids are stable across reads.
    auto reread = co_await ECS("DescribeSecurityGroupAttribute",
                               {{"SecurityGroupId", sg}, {"Direction", "ingress"}});
    CO_ASSERT_API_OK(reread);
    CO_ASSERT_EQ(PermissionsOf(reread).size(), 2u);
    EXPECT_EQ(PermissionsOf(reread)[0]["SecurityGroupRuleId"], ssh_id);
    auto egress_only = co_await ECS("DescribeSecurityGroupAttribute",
                                    {{"SecurityGroupId", sg}, {"Direction", "egress"}});
    EXPECT_EQ(PermissionsOf(egress_only).size(), 2u);
    auto paged = co_await ECS("DescribeSecurityGroupAttribute",
                              {{"SecurityGroupId", sg}, {"MaxResults", "10"}});
    CO_ASSERT_API_OK(paged);
    EXPECT_EQ((*paged)["NextToken"], "");
    auto internet = co_await ECS("DescribeSecurityGroupAttribute",
                                 {{"SecurityGroupId", sg}, {"NicType", "internet"}});
    EXPECT_EQ(PermissionsOf(internet).size(), 0u);

    // Authorize's errors.
    EXPECT_EQ(CodeOf(co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("AuthorizeSecurityGroup",
                                  {{"SecurityGroupId", sg},
                                   {"Permissions.1.IpProtocol", "sctp"},
                                   {"Permissions.1.SourceCidrIp", "0.0.0.0/0"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await ECS("AuthorizeSecurityGroup",
                                  {{"SecurityGroupId", sg},
                                   {"Permissions.1.IpProtocol", "tcp"},
                                   {"Permissions.1.PortRange", "80/22"},
                                   {"Permissions.1.SourceCidrIp", "0.0.0.0/0"}})),
              "InvalidPortRange.Malformed");
    EXPECT_EQ(
        CodeOf(co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                       {"Permissions.1.IpProtocol", "tcp"},
                                                       {"Permissions.1.PortRange", "80/80"}})),
        "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("AuthorizeSecurityGroup",
                                  {{"SecurityGroupId", sg},
                                   {"Permissions.1.IpProtocol", "tcp"},
                                   {"Permissions.1.PortRange", "80/80"},
                                   {"Permissions.1.SourceCidrIp", "10.0.0.1/8"}})),
              "InvalidSourceCidrIp.Malformed");
    EXPECT_EQ(
        CodeOf(co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                       {"Permissions.1.IpProtocol", "tcp"},
                                                       {"Permissions.1.PortRange", "80/80"},
                                                       {"Permissions.1.SourceCidrIp", "0.0.0.0/0"},
                                                       {"Permissions.1.Priority", "101"}})),
        "InvalidParameter");
    EXPECT_EQ(
        CodeOf(co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                       {"Permissions.1.IpProtocol", "tcp"},
                                                       {"Permissions.1.PortRange", "80/80"},
                                                       {"Permissions.1.SourceCidrIp", "0.0.0.0/0"},
                                                       {"Permissions.1.Policy", "maybe"}})),
        "InvalidParameter");
    EXPECT_EQ(
        CodeOf(co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                       {"Permissions.1.IpProtocol", "tcp"},
                                                       {"Permissions.1.PortRange", "80/80"},
                                                       {"Permissions.1.SourceCidrIp", "0.0.0.0/0"},
                                                       {"Permissions.1.Bogus", "1"}})),
        "InvalidParameter");
    auto no_group =
        co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", "sg-nothere"},
                                                {"Permissions.1.IpProtocol", "all"},
                                                {"Permissions.1.SourceCidrIp", "0.0.0.0/0"}});
    EXPECT_EQ(CodeOf(no_group), "InvalidSecurityGroupId.NotFound");
    if (!no_group.ok()) {
      EXPECT_EQ(no_group.error().http_status, 404);
    }

    // Tenancy: b cannot authorize a's group nor name it as a peer.
    auto [b_vpc, b_vsw] = co_await VpcAndVSwitch(b_);
    auto b_made = co_await ECS("CreateSecurityGroup", {{"VpcId", b_vpc}}, &b_);
    CO_ASSERT_API_OK(b_made);
    const std::string b_sg = (*b_made)["SecurityGroupId"];
    EXPECT_EQ(CodeOf(co_await ECS("AuthorizeSecurityGroup",
                                  {{"SecurityGroupId", sg},
                                   {"Permissions.1.IpProtocol", "all"},
                                   {"Permissions.1.SourceCidrIp", "0.0.0.0/0"}},
                                  &b_)),
              "InvalidSecurityGroupId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("AuthorizeSecurityGroup",
                                  {{"SecurityGroupId", b_sg},
                                   {"Permissions.1.IpProtocol", "all"},
                                   {"Permissions.1.SourceGroupId", sg}},
                                  &b_)),
              "InvalidSecurityGroupId.NotFound");
    EXPECT_EQ(
        CodeOf(co_await ECS("DescribeSecurityGroupAttribute", {{"SecurityGroupId", sg}}, &b_)),
        "InvalidSecurityGroupId.NotFound");
    EXPECT_EQ(
        CodeOf(co_await ECS("RevokeSecurityGroup",
                            {{"SecurityGroupId", sg}, {"SecurityGroupRuleId.1", ssh_id}}, &b_)),
        "InvalidSecurityGroupId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("DeleteSecurityGroup", {{"SecurityGroupId", sg}}, &b_)),
              "InvalidSecurityGroupId.NotFound");
    // A peer in another VPC (a's own) is refused.
    auto cidr = network::ParseCidr("172.16.0.0/16");
    auto vpc2 = co_await vpcs_.CreateVpc("other", *cidr);
    CO_ASSERT_TRUE(vpc2.ok());
    co_await Own(vpc2->id, kind::kVpc, a_);
    auto far = co_await ECS("CreateSecurityGroup", {{"VpcId", vpc2->id}});
    CO_ASSERT_API_OK(far);
    const std::string far_sg = (*far)["SecurityGroupId"];
    EXPECT_EQ(
        CodeOf(co_await ECS("AuthorizeSecurityGroup", {{"SecurityGroupId", sg},
                                                       {"Permissions.1.IpProtocol", "all"},
                                                       {"Permissions.1.SourceGroupId", far_sg}})),
        "InvalidParameter");

    // Revoke: by id, and by content (description does not matter); a rule
    // not there is a success.
    auto by_id = co_await ECS("RevokeSecurityGroup",
                              {{"SecurityGroupId", sg}, {"SecurityGroupRuleId.1", ssh_id}});
    CO_ASSERT_API_OK(by_id);
    EXPECT_EQ(CodeOf(co_await ECS("RevokeSecurityGroup",
                                  {{"SecurityGroupId", sg},
                                   {"SecurityGroupRuleId.1", "sgr-aaaaaaaaaaaaaaaaaaaa"}})),
              "InvalidSecurityGroupRuleId.NotFound");
    auto by_content =
        co_await ECS("RevokeSecurityGroupEgress", {{"SecurityGroupId", sg},
                                                   {"Permissions.1.IpProtocol", "udp"},
                                                   {"Permissions.1.PortRange", "53/53"},
                                                   {"Permissions.1.DestCidrIp", "8.8.8.8/32"}});
    CO_ASSERT_API_OK(by_content);
    auto absent =
        co_await ECS("RevokeSecurityGroupEgress", {{"SecurityGroupId", sg},
                                                   {"Permissions.1.IpProtocol", "udp"},
                                                   {"Permissions.1.PortRange", "53/53"},
                                                   {"Permissions.1.DestCidrIp", "8.8.8.8/32"}});
    CO_ASSERT_API_OK(absent);
    auto after = co_await ECS("DescribeSecurityGroupAttribute", {{"SecurityGroupId", sg}});
    perms = PermissionsOf(after);
    CO_ASSERT_EQ(perms.size(), 2u);
    EXPECT_EQ(perms[0]["IpProtocol"], "ICMP");
    EXPECT_EQ(perms[1]["IpProtocol"], "ALL");

    // DeleteSecurityGroup: a group another's rule names is in use; so is
    // one with a member interface.
    auto named = co_await ECS("DeleteSecurityGroup", {{"SecurityGroupId", sg2}});
    EXPECT_EQ(CodeOf(named), "DependencyViolation");
    if (!named.ok()) {
      EXPECT_EQ(named.error().http_status, 400);
    }
    auto eni =
        co_await ECS("CreateNetworkInterface", {{"VSwitchId", vsw}, {"SecurityGroupId", sg}});
    CO_ASSERT_API_OK(eni);
    EXPECT_EQ(CodeOf(co_await ECS("DeleteSecurityGroup", {{"SecurityGroupId", sg}})),
              "DependencyViolation");
    {
      auto step_1 =
          co_await ECS("DeleteNetworkInterface",
                       {{"NetworkInterfaceId", (*eni)["NetworkInterfaceId"].get<std::string>()}});
      CO_ASSERT_API_OK(step_1);
    };
    {
      auto step_2 = co_await ECS("DeleteSecurityGroup", {{"SecurityGroupId", sg}});
      CO_ASSERT_API_OK(step_2);
    };
    {
      auto step_3 = co_await ECS("DeleteSecurityGroup", {{"SecurityGroupId", sg2}});
      CO_ASSERT_API_OK(step_3);
    };
    EXPECT_EQ(CodeOf(co_await ECS("DeleteSecurityGroup", {{"SecurityGroupId", sg}})),
              "InvalidSecurityGroupId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("DeleteSecurityGroup", {})), "MissingParameter");
    auto none = co_await ECS("DescribeSecurityGroups", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(none);
    EXPECT_EQ((*none)["TotalCount"], 0);
  }());
}

TEST_F(NetworkActionsTest, NetworkInterfaces) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto [vpc, vsw] = co_await VpcAndVSwitch(a_);
    CO_ASSERT_TRUE(!vpc.empty());
    auto made_sg = co_await ECS("CreateSecurityGroup", {{"VpcId", vpc}});
    CO_ASSERT_API_OK(made_sg);
    const std::string sg = (*made_sg)["SecurityGroupId"];

    // CreateNetworkInterface: errors, then one with every attribute.
    EXPECT_EQ(CodeOf(co_await ECS("CreateNetworkInterface", {{"SecurityGroupId", sg}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("CreateNetworkInterface", {{"VSwitchId", vsw}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS(
                  "CreateNetworkInterface",
                  {{"VSwitchId", vsw}, {"SecurityGroupId", sg}, {"PrimaryIpAddress", "10.0.1"}})),
              "InvalidPrimaryIpAddress.Malformed");
    EXPECT_EQ(CodeOf(co_await ECS("CreateNetworkInterface",
                                  {{"VSwitchId", "vsw-nothere"}, {"SecurityGroupId", sg}})),
              "InvalidVSwitchId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("CreateNetworkInterface",
                                  {{"VSwitchId", vsw}, {"SecurityGroupId", "sg-nothere"}})),
              "InvalidSecurityGroupId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("CreateNetworkInterface",
                                  {{"VSwitchId", vsw}, {"SecurityGroupId", sg}}, &b_)),
              "InvalidVSwitchId.NotFound");
    auto made = co_await ECS("CreateNetworkInterface", {{"VSwitchId", vsw},
                                                        {"SecurityGroupIds.1", sg},
                                                        {"PrimaryIpAddress", "10.0.1.50"},
                                                        {"NetworkInterfaceName", "extra"},
                                                        {"Description", "a second NIC"},
                                                        {"Tag.1.Key", "role"},
                                                        {"Tag.1.Value", "data"}});
    CO_ASSERT_API_OK(made);
    const std::string eni = (*made)["NetworkInterfaceId"];
    EXPECT_EQ(eni.substr(0, 4), "eni-");
    EXPECT_EQ((*made)["Status"], "Available");
    EXPECT_EQ((*made)["PrivateIpAddress"], "10.0.1.50");
    EXPECT_EQ((*made)["MacAddress"].get<std::string>().size(), 17u);
    EXPECT_EQ((*made)["VpcId"], vpc);
    EXPECT_EQ((*made)["ZoneId"], "z1");
    auto dup = co_await ECS(
        "CreateNetworkInterface",
        {{"VSwitchId", vsw}, {"SecurityGroupId", sg}, {"PrimaryIpAddress", "10.0.1.50"}});
    EXPECT_FALSE(dup.ok());

    // The store's record: a vhost-user port, bound to no host.
    network::NetworkReads reads;
    reads.keys.push_back(network::InterfaceKey(eni));
    auto net = co_await vpcs_.Read(reads);
    CO_ASSERT_TRUE(net.ok() && net->interfaces.count(eni));
    EXPECT_EQ(net->interfaces.at(eni).value.port, "vhost-user");
    EXPECT_EQ(net->interfaces.at(eni).value.host, "");

    // An instance (Running) with its primary ENI, as RunInstances makes it.
    auto [inst, primary] = co_await Instance(vsw, sg, compute::InstanceStatus::kRunning, a_);
    CO_ASSERT_TRUE(!inst.empty());

    auto described = co_await ECS("DescribeNetworkInterfaces", {{"NetworkInterfaceId.1", eni}});
    CO_ASSERT_API_OK(described);
    EXPECT_EQ((*described)["TotalCount"], 1);
    const Json& set = (*described)["NetworkInterfaceSets"]["NetworkInterfaceSet"];
    CO_ASSERT_EQ(set.size(), 1u);
    EXPECT_EQ(set[0]["NetworkInterfaceId"], eni);
    EXPECT_EQ(set[0]["NetworkInterfaceName"], "extra");
    EXPECT_EQ(set[0]["Description"], "a second NIC");
    EXPECT_EQ(set[0]["Status"], "Available");
    EXPECT_EQ(set[0]["Type"], "Secondary");
    EXPECT_EQ(set[0]["InstanceId"], "");
    EXPECT_EQ(set[0]["VpcId"], vpc);
    EXPECT_EQ(set[0]["VSwitchId"], vsw);
    EXPECT_EQ(set[0]["ZoneId"], "z1");
    EXPECT_EQ(set[0]["PrivateIpAddress"], "10.0.1.50");
    EXPECT_EQ(set[0]["SecurityGroupIds"]["SecurityGroupId"][0], sg);
    EXPECT_EQ(set[0]["PrivateIpSets"]["PrivateIpSet"][0]["PrivateIpAddress"], "10.0.1.50");
    EXPECT_EQ(set[0]["PrivateIpSets"]["PrivateIpSet"][0]["Primary"], true);
    EXPECT_EQ(set[0]["Tags"]["Tag"][0]["TagKey"], "role");
    EXPECT_FALSE(set[0].contains("Attachment"));
    auto of_instance = co_await ECS("DescribeNetworkInterfaces", {{"InstanceId", inst}});
    CO_ASSERT_API_OK(of_instance);
    const Json& p = (*of_instance)["NetworkInterfaceSets"]["NetworkInterfaceSet"];
    CO_ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0]["NetworkInterfaceId"], primary);
    EXPECT_EQ(p[0]["Type"], "Primary");
    EXPECT_EQ(p[0]["Status"], "InUse");
    EXPECT_EQ(p[0]["Attachment"]["InstanceId"], inst);
    EXPECT_EQ(p[0]["Attachment"]["DeviceIndex"], 0);
    auto token = co_await ECS("DescribeNetworkInterfaces", {{"VpcId", vpc}, {"MaxResults", "10"}});
    CO_ASSERT_API_OK(token);
    EXPECT_EQ((*token)["NextToken"], "");
    EXPECT_EQ((*token)["NetworkInterfaceSets"]["NetworkInterfaceSet"].size(), 2u);
    auto available = co_await ECS("DescribeNetworkInterfaces", {{"Status", "Available"}});
    CO_ASSERT_API_OK(available);
    EXPECT_EQ((*available)["NetworkInterfaceSets"]["NetworkInterfaceSet"].size(), 1u);
    EXPECT_EQ(CodeOf(co_await ECS("DescribeNetworkInterfaces", {{"Status", "Broken"}})),
              "InvalidParameter");
    auto b_list = co_await ECS("DescribeNetworkInterfaces", {}, &b_);
    CO_ASSERT_API_OK(b_list);
    EXPECT_EQ((*b_list)["NetworkInterfaceSets"]["NetworkInterfaceSet"].size(), 0u);

    // Attach: errors first.
    EXPECT_EQ(CodeOf(co_await ECS("AttachNetworkInterface", {{"NetworkInterfaceId", eni}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("AttachNetworkInterface",
                                  {{"NetworkInterfaceId", "eni-nothere"}, {"InstanceId", inst}})),
              "InvalidEniId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("AttachNetworkInterface",
                                  {{"NetworkInterfaceId", eni}, {"InstanceId", "i-nothere"}})),
              "InvalidEcsId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS("AttachNetworkInterface",
                                  {{"NetworkInterfaceId", eni}, {"InstanceId", inst}}, &b_)),
              "InvalidEniId.NotFound");
    auto busy = co_await ECS("AttachNetworkInterface",
                             {{"NetworkInterfaceId", primary}, {"InstanceId", inst}});
    EXPECT_EQ(CodeOf(busy), "InvalidOperation.InvalidEniState");
    if (!busy.ok()) {
      EXPECT_EQ(busy.error().http_status, 400);
    }
    auto [pending, pending_eni] = co_await Instance(vsw, sg, compute::InstanceStatus::kPending, a_);
    auto not_yet = co_await ECS("AttachNetworkInterface",
                                {{"NetworkInterfaceId", eni}, {"InstanceId", pending}});
    EXPECT_EQ(CodeOf(not_yet), "IncorrectInstanceStatus");
    if (!not_yet.ok()) {
      EXPECT_EQ(not_yet.error().http_status, 403);
    }

    {
      auto step_4 = co_await ECS("AttachNetworkInterface",
                                 {{"NetworkInterfaceId", eni}, {"InstanceId", inst}});
      CO_ASSERT_API_OK(step_4);
    };
    compute::Instance record = co_await ReadInstance(inst);
    CO_ASSERT_EQ(record.nics.size(), 2u);
    EXPECT_EQ(record.nics[1].eni, eni);
    auto in_use = co_await ECS("DescribeNetworkInterfaces", {{"NetworkInterfaceId.1", eni}});
    CO_ASSERT_API_OK(in_use);
    const Json& u = (*in_use)["NetworkInterfaceSets"]["NetworkInterfaceSet"][0];
    EXPECT_EQ(u["Status"], "InUse");
    EXPECT_EQ(u["Type"], "Secondary");
    EXPECT_EQ(u["InstanceId"], inst);
    EXPECT_EQ(u["Attachment"]["DeviceIndex"], 1);
    // Attached: a second attach and a delete are refused.
    EXPECT_EQ(CodeOf(co_await ECS("AttachNetworkInterface",
                                  {{"NetworkInterfaceId", eni}, {"InstanceId", pending}})),
              "InvalidOperation.InvalidEniState");
    EXPECT_EQ(CodeOf(co_await ECS("DeleteNetworkInterface", {{"NetworkInterfaceId", eni}})),
              "InvalidOperation.InvalidEniState");

    // Detach: the primary one is refused; the other leaves and stays.
    EXPECT_EQ(CodeOf(co_await ECS("DetachNetworkInterface",
                                  {{"NetworkInterfaceId", primary}, {"InstanceId", inst}})),
              "InvalidOperation.DetachPrimaryEniNotAllowed");
    EXPECT_EQ(CodeOf(co_await ECS("DetachNetworkInterface",
                                  {{"NetworkInterfaceId", eni}, {"InstanceId", pending}})),
              "InvalidOperation.InvalidEniState");
    EXPECT_EQ(CodeOf(co_await ECS("DetachNetworkInterface",
                                  {{"NetworkInterfaceId", eni}, {"InstanceId", inst}}, &b_)),
              "InvalidEniId.NotFound");
    {
      auto step_5 = co_await ECS("DetachNetworkInterface",
                                 {{"NetworkInterfaceId", eni}, {"InstanceId", inst}});
      CO_ASSERT_API_OK(step_5);
    };
    record = co_await ReadInstance(inst);
    EXPECT_EQ(record.nics.size(), 1u);
    auto freed = co_await ECS("DescribeNetworkInterfaces", {{"NetworkInterfaceId.1", eni}});
    CO_ASSERT_API_OK(freed);
    EXPECT_EQ((*freed)["NetworkInterfaceSets"]["NetworkInterfaceSet"][0]["Status"], "Available");

    // Delete: b cannot; a can, once; the address is free again.
    EXPECT_EQ(CodeOf(co_await ECS("DeleteNetworkInterface", {{"NetworkInterfaceId", eni}}, &b_)),
              "InvalidEniId.NotFound");
    {
      auto step_6 = co_await ECS("DeleteNetworkInterface", {{"NetworkInterfaceId", eni}});
      CO_ASSERT_API_OK(step_6);
    };
    EXPECT_EQ(CodeOf(co_await ECS("DeleteNetworkInterface", {{"NetworkInterfaceId", eni}})),
              "InvalidEniId.NotFound");
    auto reused = co_await ECS(
        "CreateNetworkInterface",
        {{"VSwitchId", vsw}, {"SecurityGroupId", sg}, {"PrimaryIpAddress", "10.0.1.50"}});
    CO_ASSERT_API_OK(reused);
  }());
}

}  // namespace
}  // namespace tg::api::testing
