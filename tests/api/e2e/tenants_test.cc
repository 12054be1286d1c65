// Tenancy end to end: two accounts on a real `tiangong server` API through
// the official SDKs. Account A makes a VPC, a vSwitch, a security group with
// a rule, an EIP and a disk; B lists none of them, and every call of B's
// that names one of A's ids is the same 404 as an id that never existed and
// changes nothing (A's view is the same afterwards).
#include <gtest/gtest.h>

#include "api_cloud.h"

namespace tg::api::e2e {
namespace {

using namespace std::chrono_literals;

::testing::AssertionResult NotFound(const Json& answer, const std::string& code) {
  if (!answer.contains("error"))
    return ::testing::AssertionFailure() << "succeeded: " << answer.dump();
  const Json& e = answer["error"];
  if (e.value("code", "") != code || e.value("statusCode", 0) != 404 ||
      e.value("name", "") != "ClientError") {
    return ::testing::AssertionFailure() << "expected " << code << " 404, got " << e.dump();
  }
  return ::testing::AssertionSuccess();
}

Json WithRegion(Json params) {
  params["regionId"] = "cn-tiangong";
  return params;
}

// A reply without its RequestId, to compare two reads.
Json Body(const Json& answer) {
  EXPECT_TRUE(answer.contains("ok")) << answer.dump();
  Json body = answer.value("ok", Json::object());
  body.erase("RequestId");
  return body;
}

class TenantsTest : public ::testing::Test {
 protected:
  TenantsTest() : cloud_(3) {}

  // A's resources as A sees them (one read per kind).
  Json ViewOf(const Tenant& t) {
    Json view;
    view["vpcs"] = Body(cloud_.V3(t, "vpc", "DescribeVpcs", WithRegion({})));
    view["vswitches"] = Body(cloud_.V3(t, "vpc", "DescribeVSwitches", WithRegion({})));
    view["groups"] = Body(cloud_.V3(t, "ecs", "DescribeSecurityGroups", WithRegion({})));
    view["eips"] = Body(cloud_.V3(t, "vpc", "DescribeEipAddresses", WithRegion({})));
    view["disks"] = Body(cloud_.V3(t, "ecs", "DescribeDisks", WithRegion({})));
    view["enis"] = Body(cloud_.V3(t, "ecs", "DescribeNetworkInterfaces", WithRegion({})));
    return view;
  }

  std::string Made(const Json& answer, const std::string& field) {
    EXPECT_TRUE(answer.contains("ok")) << answer.dump();
    return answer.contains("ok") ? answer["ok"].value(field, "") : "";
  }

  ApiCloud cloud_;
};

TEST_F(TenantsTest, AnotherAccountSeesAndTouchesNothing) {
  ASSERT_OK(cloud_.EnablePublicSide());
  ASSERT_OK(tg::testing::RunTask(cloud_.io(), cloud_.cluster().WaitRegistered(60s)));
  auto a = cloud_.CreateTenant("alice");
  ASSERT_OK(a.status());
  auto b = cloud_.CreateTenant("bob");
  ASSERT_OK(b.status());

  // A's resources.
  const std::string vpc =
      Made(cloud_.V3(*a, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "10.0.0.0/16"}})), "VpcId");
  ASSERT_FALSE(vpc.empty());
  const std::string vswitch =
      Made(cloud_.V3(*a, "vpc", "CreateVSwitch",
                     WithRegion({{"vpcId", vpc}, {"zoneId", "z1"}, {"cidrBlock", "10.0.1.0/24"}})),
           "VSwitchId");
  ASSERT_FALSE(vswitch.empty());
  const std::string group = Made(
      cloud_.V3(*a, "ecs", "CreateSecurityGroup", WithRegion({{"vpcId", vpc}})), "SecurityGroupId");
  ASSERT_FALSE(group.empty());
  ASSERT_TRUE(cloud_
                  .Pop(*a, "ecs", "AuthorizeSecurityGroup",
                       {{"SecurityGroupId", group},
                        {"IpProtocol", "tcp"},
                        {"PortRange", "22/22"},
                        {"SourceCidrIp", "192.0.2.0/24"}})
                  .contains("ok"));
  const std::string eni =
      Made(cloud_.V3(*a, "ecs", "CreateNetworkInterface",
                     WithRegion({{"vSwitchId", vswitch}, {"securityGroupId", group}})),
           "NetworkInterfaceId");
  ASSERT_FALSE(eni.empty());
  const std::string eip =
      Made(cloud_.V3(*a, "vpc", "AllocateEipAddress", WithRegion({})), "AllocationId");
  ASSERT_FALSE(eip.empty());
  const std::string disk = Made(
      cloud_.V3(*a, "ecs", "CreateDisk", WithRegion({{"zoneId", "z1"}, {"size", 5}})), "DiskId");
  ASSERT_FALSE(disk.empty());
  // Until the disk settles (its status is part of the view compared below).
  Json disks;
  for (auto deadline = Clock::now() + 60s; Clock::now() < deadline;) {
    disks = cloud_.V3(*a, "ecs", "DescribeDisks", WithRegion({{"diskIds", "[\"" + disk + "\"]"}}));
    if (disks.contains("ok") && disks["ok"]["Disks"]["Disk"].size() == 1 &&
        disks["ok"]["Disks"]["Disk"][0].value("Status", "") == "Available") {
      break;
    }
  }
  ASSERT_EQ(disks["ok"]["Disks"]["Disk"][0].value("Status", ""), "Available") << disks.dump();

  const Json before = ViewOf(*a);
  EXPECT_EQ(before["vpcs"]["TotalCount"], 1) << before.dump();
  EXPECT_EQ(before["disks"]["TotalCount"], 1) << before.dump();

  // B lists none of it.
  const Json bs = ViewOf(*b);
  EXPECT_EQ(bs["vpcs"]["TotalCount"], 0) << bs.dump();
  EXPECT_EQ(bs["vswitches"]["TotalCount"], 0) << bs.dump();
  EXPECT_EQ(bs["groups"]["TotalCount"], 0) << bs.dump();
  EXPECT_EQ(bs["eips"]["TotalCount"], 0) << bs.dump();
  EXPECT_EQ(bs["disks"]["TotalCount"], 0) << bs.dump();
  EXPECT_EQ(bs["enis"]["TotalCount"], 0) << bs.dump();
  // Not even by naming the ids as filters.
  Json filtered = cloud_.V3(*b, "vpc", "DescribeVpcs", WithRegion({{"vpcId", vpc}}));
  EXPECT_EQ(Body(filtered)["TotalCount"], 0) << filtered.dump();
  filtered = cloud_.V3(*b, "ecs", "DescribeDisks", WithRegion({{"diskIds", "[\"" + disk + "\"]"}}));
  EXPECT_EQ(Body(filtered)["TotalCount"], 0) << filtered.dump();
  filtered = cloud_.V3(*b, "vpc", "DescribeEipAddresses", WithRegion({{"allocationId", eip}}));
  EXPECT_EQ(Body(filtered)["TotalCount"], 0) << filtered.dump();

  // B's own network, so that B's calls name one of A's ids and nothing else wrong.
  const std::string b_vpc =
      Made(cloud_.V3(*b, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "10.0.0.0/16"}})), "VpcId");
  const std::string b_vswitch = Made(
      cloud_.V3(*b, "vpc", "CreateVSwitch",
                WithRegion({{"vpcId", b_vpc}, {"zoneId", "z1"}, {"cidrBlock", "10.0.1.0/24"}})),
      "VSwitchId");
  const std::string b_group =
      Made(cloud_.V3(*b, "ecs", "CreateSecurityGroup", WithRegion({{"vpcId", b_vpc}})),
           "SecurityGroupId");
  const std::string b_eni =
      Made(cloud_.V3(*b, "ecs", "CreateNetworkInterface",
                     WithRegion({{"vSwitchId", b_vswitch}, {"securityGroupId", b_group}})),
           "NetworkInterfaceId");
  ASSERT_FALSE(b_eni.empty());

  // B's calls by A's ids: the 404 of an id that never was.
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "vpc", "DescribeVpcAttribute", WithRegion({{"vpcId", vpc}})),
                       "InvalidVpcId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "vpc", "DescribeVpcAttribute",
                                 WithRegion({{"vpcId", "vpc-neverexisted000000"}})),
                       "InvalidVpcId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "vpc", "DeleteVpc", WithRegion({{"vpcId", vpc}})),
                       "InvalidVpcId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "vpc", "ModifyVpcAttribute",
                                 WithRegion({{"vpcId", vpc}, {"vpcName", "stolen"}})),
                       "InvalidVpcId.NotFound"));
  EXPECT_TRUE(NotFound(
      cloud_.V3(*b, "vpc", "CreateVSwitch",
                WithRegion({{"vpcId", vpc}, {"zoneId", "z1"}, {"cidrBlock", "10.0.2.0/24"}})),
      "InvalidVpcId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "vpc", "DeleteVSwitch", WithRegion({{"vSwitchId", vswitch}})),
                       "InvalidVSwitchId.NotFound"));
  EXPECT_TRUE(
      NotFound(cloud_.V3(*b, "ecs", "CreateNetworkInterface",
                         WithRegion({{"vSwitchId", vswitch}, {"securityGroupId", b_group}})),
               "InvalidVSwitchId.NotFound"));
  Json authorize = cloud_.Pop(*b, "ecs", "AuthorizeSecurityGroup",
                              {{"SecurityGroupId", group},
                               {"IpProtocol", "tcp"},
                               {"PortRange", "1/65535"},
                               {"SourceCidrIp", "0.0.0.0/0"}});
  EXPECT_EQ(CodeOf(authorize), "InvalidSecurityGroupId.NotFound") << authorize.dump();
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "ecs", "AuthorizeSecurityGroup",
                                 WithRegion({{"securityGroupId", group},
                                             {"ipProtocol", "tcp"},
                                             {"portRange", "1/65535"},
                                             {"sourceCidrIp", "0.0.0.0/0"}})),
                       "InvalidSecurityGroupId.NotFound"));
  EXPECT_TRUE(NotFound(
      cloud_.V3(*b, "ecs", "DeleteSecurityGroup", WithRegion({{"securityGroupId", group}})),
      "InvalidSecurityGroupId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "ecs", "DescribeSecurityGroupAttribute",
                                 WithRegion({{"securityGroupId", group}})),
                       "InvalidSecurityGroupId.NotFound"));
  // The disk is looked up before the instance: A's disk is not found for B,
  // while A's own call gets as far as the (missing) instance.
  EXPECT_TRUE(
      NotFound(cloud_.V3(*b, "ecs", "AttachDisk",
                         WithRegion({{"diskId", disk}, {"instanceId", "i-nosuchinstance000"}})),
               "InvalidDiskId.NotFound"));
  EXPECT_TRUE(
      NotFound(cloud_.V3(*a, "ecs", "AttachDisk",
                         WithRegion({{"diskId", disk}, {"instanceId", "i-nosuchinstance000"}})),
               "InvalidInstanceId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "ecs", "DeleteDisk", WithRegion({{"diskId", disk}})),
                       "InvalidDiskId.NotFound"));
  EXPECT_TRUE(
      NotFound(cloud_.V3(*b, "ecs", "ResizeDisk", WithRegion({{"diskId", disk}, {"newSize", 10}})),
               "InvalidDiskId.NotFound"));
  EXPECT_TRUE(NotFound(cloud_.V3(*b, "vpc", "AssociateEipAddress",
                                 WithRegion({{"allocationId", eip},
                                             {"instanceId", b_eni},
                                             {"instanceType", "NetworkInterface"}})),
                       "InvalidAllocationId.NotFound"));
  EXPECT_TRUE(
      NotFound(cloud_.V3(*b, "vpc", "ReleaseEipAddress", WithRegion({{"allocationId", eip}})),
               "InvalidAllocationId.NotFound"));
  // And the other way round: A's EIP onto B's interface.
  Json onto = cloud_.V3(
      *a, "vpc", "AssociateEipAddress",
      WithRegion(
          {{"allocationId", eip}, {"instanceId", b_eni}, {"instanceType", "NetworkInterface"}}));
  EXPECT_TRUE(onto.contains("error")) << onto.dump();
  EXPECT_EQ(onto["error"].value("statusCode", 0), 404) << onto.dump();

  // Nothing changed for A.
  const Json after = ViewOf(*a);
  EXPECT_EQ(after, before) << "before: " << before.dump() << "\nafter: " << after.dump();
  Json rules = cloud_.V3(*a, "ecs", "DescribeSecurityGroupAttribute",
                         WithRegion({{"securityGroupId", group}}));
  ASSERT_TRUE(rules.contains("ok")) << rules.dump();
  EXPECT_EQ(rules["ok"]["Permissions"]["Permission"].size(), 1u) << rules.dump();
  // B still has only its own.
  const Json bs_after = ViewOf(*b);
  EXPECT_EQ(bs_after["vpcs"]["TotalCount"], 1) << bs_after.dump();
  EXPECT_EQ(bs_after["vswitches"]["TotalCount"], 1) << bs_after.dump();
  EXPECT_EQ(bs_after["eips"]["TotalCount"], 0) << bs_after.dump();
  EXPECT_EQ(bs_after["disks"]["TotalCount"], 0) << bs_after.dump();
}

}  // namespace
}  // namespace tg::api::e2e
