// The ECS instance actions against a real storage cluster (etcd, a server,
// three chunkservers: instances get cloned system disks and data disks) and
// real VPC and compute stores. No node runs here, so instances stay Pending
// (CreateInstance's ones Stopped); Running ones are the SDK e2e test's.
#include <gtest/gtest.h>

#include <fstream>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "compute/model/base64.h"
#include "compute/model/console_exchange.h"
#include "network/model/address.h"
#include "storage/control/volume_store.h"

namespace tg::api::testing {
namespace {

class InstanceActionsTest : public ApiTest {
 protected:
  InstanceActionsTest() : ApiTest(3) {}

  // A system image (no owner record), a VPC with a vSwitch and two groups
  // of account A (made through the stores, owned through the registry).
  Task<bool> Prepare() {
    if (!co_await Ready()) co_return false;
    const std::string raw = dir_.path() + "/zeros.raw";
    {
      std::ofstream out(raw, std::ios::binary);
      const std::string zeros(4 << 20, '\0');
      out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    }
    compute::ImportImageRequest import{.name = "tiny", .file = raw, .platform = "Debian"};
    auto image = co_await compute_->ImportImage(import);
    EXPECT_TRUE(image.ok()) << image.status();
    if (!image.ok()) co_return false;
    image_ = image->id;
    auto vpc = co_await vpcs_.CreateVpc("v", *network::ParseCidr("10.0.0.0/16"));
    EXPECT_TRUE(vpc.ok()) << vpc.status();
    if (!vpc.ok()) co_return false;
    vpc_ = vpc->id;
    auto vsw = co_await vpcs_.CreateVSwitch(vpc_, *network::ParseCidr("10.0.1.0/24"), zone_);
    EXPECT_TRUE(vsw.ok()) << vsw.status();
    if (!vsw.ok()) co_return false;
    vswitch_ = vsw->id;
    auto sg1 = co_await vpcs_.CreateSecurityGroup(vpc_, "one");
    auto sg2 = co_await vpcs_.CreateSecurityGroup(vpc_, "two");
    if (!sg1.ok() || !sg2.ok()) co_return false;
    sg1_ = sg1->id;
    sg2_ = sg2->id;
    for (const auto& [id, k] :
         {std::pair{vpc_, kind::kVpc}, std::pair{vswitch_, kind::kVSwitch},
          std::pair{sg1_, kind::kSecurityGroup}, std::pair{sg2_, kind::kSecurityGroup}}) {
      ResourceRecord r;
      r.id = id;
      r.kind = std::string(k);
      r.account = a_.id;
      r.created_at = time(nullptr);
      Status s = co_await registry_.Create(r);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) co_return false;
    }
    co_return true;
  }

  Params Launch(Params extra = {}) {
    Params p{{"ImageId", image_},
             {"InstanceType", "ecs.t6-c1m1.small"},
             {"VSwitchId", vswitch_},
             {"SecurityGroupId", sg1_}};
    for (auto& [k, v] : extra) p[k] = v;
    return p;
  }

  Task<std::optional<ResourceRecord>> Record(const std::string& id) {
    auto r = co_await registry_.Get(a_.id, id);
    EXPECT_TRUE(r.ok()) << r.status();
    co_return r.ok() ? *r : std::nullopt;
  }

  std::string zone_ = "cn-tiangong-a";
  std::string image_, vpc_, vswitch_, sg1_, sg2_;
};

const Json& Items(const Json& body) {
  return body["Instances"]["Instance"];
}

TEST_F(InstanceActionsTest, RunDescribeModifyDeleteAndTenancy) {
  tg::testing::RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Prepare());
    const std::string user_data = compute::EncodeBase64("#!/bin/sh\necho hi\n");
    Params p1 = {{"InstanceType", "ecs.t6-c1m1.small"}};

    // Parameters refused before anything is made.
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p1)), "MissingParameter");
    Params p2 = Launch({{"Amount", "0"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p2)), "InvalidParameter");
    Params p3 = Launch({{"Amount", "101"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p3)), "InvalidParameter");
    Params p4 = Launch({{"Amount", "2"}, {"PrivateIpAddress", "10.0.1.9"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p4)), "InvalidParameter");
    Params p5 = Launch({{"PrivateIpAddress", "10.0.1"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p5)), "InvalidPrivateIpAddress.Malformed");
    Params p6 = Launch({{"InternetMaxBandwidthOut", "5"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p6)), "InvalidParameter");
    Params p7 = Launch({{"InstanceName", "web[a,3]"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p7)), "InvalidParameter");
    Params p8 = Launch({{"UserData", "not base64!"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p8)), "InvalidParameter");
    Params p9 = Launch({{"DataDisk.1.Category", "cloud"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p9)), "MissingParameter");
    Params p10 = Launch({{"NoSuchParameter", "1"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p10)), "InvalidParameter");
    Params p11 = Launch({{"ImageId", "m-nosuchimage"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p11)), "InvalidImageId.NotFound");
    Params p12 = Launch({{"InstanceType", "ecs.no.such"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p12)), "InvalidInstanceType.NotFound");
    Params p13 = Launch({{"ZoneId", "cn-tiangong-b"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p13)), "InvalidParameter");
    Params p14 = Launch({{"SecurityGroupId", "sg-nope"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p14)), "InvalidSecurityGroupId.NotFound");
    Params p15 = Launch({{"KeyPairName", "nokey"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p15)), "InvalidKeyPairName.NotFound");
    // Tenancy on what a launch names: B cannot use A's vSwitch or groups.
    Params p16 = Launch();
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p16, &b_)), "InvalidVSwitchId.NotFound");
    Params p17 = Launch({{"Amount", "2"},
                         {"InstanceName", "web[1,3]"},
                         {"HostName", "web[1,3].local"},
                         {"Description", "front"},
                         {"UserData", user_data},
                         {"Password", "Secret123!"},
                         {"InstanceChargeType", "PostPaid"},
                         {"Tag.1.Key", "env"},
                         {"Tag.1.Value", "prod"},
                         {"DataDisk.1.Size", "1"},
                         {"DataDisk.1.DiskName", "data"},
                         {"DataDisk.1.DeleteWithInstance", "false"}});

    // Two instances named by a sequence, with a data disk that stays.
    auto run = co_await Ecs("RunInstances", p17);
    CO_ASSERT_API_OK(run);
    const Json& ids = (*run)["InstanceIdSets"]["InstanceIdSet"];
    CO_ASSERT_EQ(ids.size(), 2u);
    const std::string i0 = ids[0], i1 = ids[1];
    EXPECT_TRUE(i0.starts_with("i-"));
    Params p18 = {{"PageSize", "1"}};

    // Page mode: one per page, both listed in creation order.
    auto page1 = co_await Ecs("DescribeInstances", p18);
    CO_ASSERT_API_OK(page1);
    EXPECT_EQ((*page1)["TotalCount"], 2);
    EXPECT_EQ((*page1)["PageNumber"], 1);
    EXPECT_EQ((*page1)["PageSize"], 1);
    CO_ASSERT_EQ(Items(*page1).size(), 1u);
    const Json& v = Items(*page1)[0];
    EXPECT_EQ(v["InstanceId"], i0);
    EXPECT_EQ(v["InstanceName"], "web001");
    EXPECT_EQ(v["HostName"], "web001.local");
    EXPECT_EQ(v["Description"], "front");
    EXPECT_EQ(v["Status"], "Pending");
    EXPECT_EQ(v["ZoneId"], zone_);
    EXPECT_EQ(v["RegionId"], settings_.region);
    EXPECT_EQ(v["InstanceType"], "ecs.t6-c1m1.small");
    EXPECT_EQ(v["InstanceTypeFamily"], "ecs.t6-c1m1");
    EXPECT_EQ(v["Cpu"], 1);
    EXPECT_EQ(v["Memory"], 512);
    EXPECT_EQ(v["ImageId"], image_);
    EXPECT_EQ(v["OSType"], "linux");
    EXPECT_EQ(v["InstanceNetworkType"], "vpc");
    EXPECT_EQ(v["IoOptimized"], true);
    EXPECT_EQ(v["InternetMaxBandwidthOut"], 0);
    EXPECT_EQ(v["DeletionProtection"], false);
    EXPECT_EQ(v["VpcAttributes"]["VpcId"], vpc_);
    EXPECT_EQ(v["VpcAttributes"]["VSwitchId"], vswitch_);
    CO_ASSERT_EQ(v["VpcAttributes"]["PrivateIpAddress"]["IpAddress"].size(), 1u);
    const std::string ip0 = v["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0];
    EXPECT_TRUE(network::ParseCidr("10.0.1.0/24")->Contains(*network::ParseIpv4(ip0)));
    EXPECT_EQ(v["SecurityGroupIds"]["SecurityGroupId"], Json::array({sg1_}));
    CO_ASSERT_EQ(v["NetworkInterfaces"]["NetworkInterface"].size(), 1u);
    const Json& nic = v["NetworkInterfaces"]["NetworkInterface"][0];
    EXPECT_EQ(nic["Type"], "Primary");
    EXPECT_EQ(nic["PrimaryIpAddress"], ip0);
    EXPECT_TRUE(std::string(nic["NetworkInterfaceId"]).starts_with("eni-"));
    EXPECT_EQ(nic["PrivateIpSets"]["PrivateIpSet"][0]["PrivateIpAddress"], ip0);
    EXPECT_EQ(v["EipAddress"]["IpAddress"], "");
    EXPECT_TRUE(v["OperationLocks"]["LockReason"].empty());
    EXPECT_EQ(v["PublicIpAddress"]["IpAddress"], Json::array());
    EXPECT_EQ(v["Tags"]["Tag"], Json::parse(R"([{"TagKey":"env","TagValue":"prod"}])"));
    EXPECT_EQ(v["CreationTime"].get<std::string>().size(), 17u);  // 2026-12-02T03:04Z
    Params p19 = {{"PageSize", "1"}, {"PageNumber", "2"}};
    auto page2 = co_await Ecs("DescribeInstances", p19);
    CO_ASSERT_API_OK(page2);
    CO_ASSERT_EQ(Items(*page2).size(), 1u);
    EXPECT_EQ(Items(*page2)[0]["InstanceName"], "web002");
    Params p20 = {{"MaxResults", "1"}};

    // Token mode.
    auto t1 = co_await Ecs("DescribeInstances", p20);
    CO_ASSERT_API_OK(t1);
    EXPECT_EQ((*t1)["NextToken"], "1");
    EXPECT_EQ(Items(*t1)[0]["InstanceId"], i0);
    Params p21 = {{"MaxResults", "1"}, {"NextToken", "1"}};
    auto t2 = co_await Ecs("DescribeInstances", p21);
    CO_ASSERT_API_OK(t2);
    EXPECT_EQ((*t2)["NextToken"], "");
    EXPECT_EQ(Items(*t2)[0]["InstanceId"], i1);
    Params p22 = {{"NextToken", "x"}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstances", p22)), "InvalidParameter");

    // Filters.
    auto count = [&](Params p) -> Task<int> {
      auto r = co_await Ecs("DescribeInstances", std::move(p));
      EXPECT_TRUE(r.ok()) << CodeOf(r);
      co_return r.ok() ? static_cast<int>(Items(*r).size()) : -1;
    };
    Params p23 = {{"InstanceIds", "[\"" + i0 + "\",\"i-unknown\"]"}};
    EXPECT_EQ(co_await count(p23), 1);
    Params p24 = {{"InstanceIds", "[\"i-unknown\"]"}};
    EXPECT_EQ(co_await count(p24), 0);
    Params p25 = {{"InstanceIds", i0}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstances", p25)), "InvalidParameter");
    Params p26 = {{"InstanceName", "web*"}};
    EXPECT_EQ(co_await count(p26), 2);
    Params p27 = {{"InstanceName", "*002"}};
    EXPECT_EQ(co_await count(p27), 1);
    Params p28 = {{"InstanceName", "web"}};
    EXPECT_EQ(co_await count(p28), 0);
    Params p29 = {{"VpcId", vpc_}};
    EXPECT_EQ(co_await count(p29), 2);
    Params p30 = {{"VSwitchId", "vsw-other"}};
    EXPECT_EQ(co_await count(p30), 0);
    Params p31 = {{"ZoneId", zone_}};
    EXPECT_EQ(co_await count(p31), 2);
    Params p32 = {{"SecurityGroupId", sg1_}};
    EXPECT_EQ(co_await count(p32), 2);
    Params p33 = {{"SecurityGroupId", sg2_}};
    EXPECT_EQ(co_await count(p33), 0);
    Params p34 = {{"Status", "Pending"}};
    EXPECT_EQ(co_await count(p34), 2);
    Params p35 = {{"Status", "Running"}};
    EXPECT_EQ(co_await count(p35), 0);
    Params p36 = {{"PrivateIpAddresses", "[\"" + ip0 + "\"]"}};
    EXPECT_EQ(co_await count(p36), 1);
    Params p37 = {{"Tag.1.Key", "env"}};
    EXPECT_EQ(co_await count(p37), 2);
    Params p38 = {{"Tag.1.Key", "env"}, {"Tag.1.Value", "dev"}};
    EXPECT_EQ(co_await count(p38), 0);
    Params p39 = {{"AdditionalAttributes.1", "META_OPTIONS"},
                  {"AdditionalAttributes.2", "NETWORK_PRIMARY_ENI_IP"}};
    EXPECT_EQ(co_await count(p39), 2);
    Params p40 = {{"Status", "Sleeping"}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstances", p40)), "InvalidParameter");

    // The ownership records of the disks and the primary interface.
    auto inst0 = co_await client().Get(compute::InstanceKey(i0));
    CO_ASSERT_TRUE(inst0.ok() && !inst0->kvs.empty());
    auto decoded = compute::DecodeInstance(inst0->kvs[0].value);
    CO_ASSERT_TRUE(decoded.ok());
    CO_ASSERT_EQ(decoded->disks.size(), 2u);
    const std::string system_disk = decoded->disks[0].id, data_disk = decoded->disks[1].id;
    const std::string eni0 = decoded->nics[0].eni;
    auto sys_rec = co_await Record(system_disk);
    CO_ASSERT_TRUE(sys_rec.has_value());
    EXPECT_EQ(sys_rec->kind, kind::kDisk);
    EXPECT_EQ(sys_rec->extra["type"], "system");
    EXPECT_EQ(sys_rec->extra["category"], "cloud_essd");
    EXPECT_EQ(sys_rec->extra["instance"], i0);
    EXPECT_EQ(sys_rec->extra["image"], image_);
    EXPECT_EQ(sys_rec->extra["delete_with_instance"], true);
    auto data_rec = co_await Record(data_disk);
    CO_ASSERT_TRUE(data_rec.has_value());
    EXPECT_EQ(data_rec->name, "data");
    EXPECT_EQ(data_rec->extra["type"], "data");
    EXPECT_EQ(data_rec->extra["delete_with_instance"], false);
    auto eni_rec = co_await Record(eni0);
    CO_ASSERT_TRUE(eni_rec.has_value());
    EXPECT_EQ(eni_rec->kind, kind::kEni);
    EXPECT_EQ(eni_rec->extra["instance"], i0);
    Params p41 = {{"InstanceId", i0}};

    // The flat attribute view and the user data.
    auto attr = co_await Ecs("DescribeInstanceAttribute", p41);
    CO_ASSERT_API_OK(attr);
    EXPECT_EQ((*attr)["InstanceId"], i0);
    EXPECT_EQ((*attr)["IoOptimized"], "optimized");
    EXPECT_EQ((*attr)["VpcAttributes"]["VpcId"], vpc_);
    Params p42 = {};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstanceAttribute", p42)), "MissingParameter");
    Params p43 = {{"InstanceId", "i-nope"}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstanceAttribute", p43)), "InvalidInstanceId.NotFound");
    Params p44 = {{"InstanceId", i0}};
    auto ud = co_await Ecs("DescribeUserData", p44);
    CO_ASSERT_API_OK(ud);
    EXPECT_EQ((*ud)["UserData"], user_data);
    EXPECT_EQ((*ud)["InstanceId"], i0);
    Params p45 = {{"InstanceId.1", i1}};
    auto status = co_await Ecs("DescribeInstanceStatus", p45);
    CO_ASSERT_API_OK(status);
    EXPECT_EQ((*status)["TotalCount"], 1);
    EXPECT_EQ((*status)["InstanceStatuses"]["InstanceStatus"][0]["Status"], "Pending");
    Params p46 = {{"InstanceId", i0}};

    // Power requests a Pending instance refuses, one by one and in batches.
    EXPECT_EQ(CodeOf(co_await Ecs("StopInstance", p46)), "IncorrectInstanceStatus");
    Params p47 = {{"InstanceId", i0}};
    EXPECT_EQ(CodeOf(co_await Ecs("StartInstance", p47)), "IncorrectInstanceStatus");
    Params p48 = {{"InstanceId", i0}, {"ForceStop", "yes"}};
    EXPECT_EQ(CodeOf(co_await Ecs("RebootInstance", p48)), "InvalidParameter");
    Params p49 = {{"InstanceId.1", i0}, {"InstanceId.2", "i-nope"}};
    auto stops = co_await Ecs("StopInstances", p49);
    CO_ASSERT_API_OK(stops);
    const Json& rs = (*stops)["InstanceResponses"]["InstanceResponse"];
    CO_ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0]["InstanceId"], i0);
    EXPECT_EQ(rs[0]["Code"], "IncorrectInstanceStatus");
    EXPECT_EQ(rs[0]["PreviousStatus"], "Pending");
    EXPECT_EQ(rs[0]["CurrentStatus"], "Pending");
    EXPECT_EQ(rs[1]["Code"], "InvalidInstanceId.NotFound");
    Params p50 = {};
    EXPECT_EQ(CodeOf(co_await Ecs("StopInstances", p50)), "MissingParameter");
    Params p51 = {{"InstanceId", i0},           {"InstanceName", "renamed"},
                  {"Description", "new"},       {"Password", "ignored1A!"},
                  {"SecurityGroupIds.1", sg2_}, {"DeletionProtection", "true"}};

    // Attribute changes: names, groups (the full new set), protection.
    CO_ASSERT_API_OK(co_await Ecs("ModifyInstanceAttribute", p51));
    Params p52 = {{"InstanceId", i0}};
    attr = co_await Ecs("DescribeInstanceAttribute", p52);
    CO_ASSERT_API_OK(attr);
    EXPECT_EQ((*attr)["InstanceName"], "renamed");
    EXPECT_EQ((*attr)["Description"], "new");
    EXPECT_EQ((*attr)["DeletionProtection"], true);
    EXPECT_EQ((*attr)["SecurityGroupIds"]["SecurityGroupId"], Json::array({sg2_}));
    Params p53 = {{"SecurityGroupId", sg2_}};
    EXPECT_EQ(co_await count(p53), 1);
    Params p54 = {{"InstanceId", i0}, {"UserData", user_data}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceAttribute", p54)), "IncorrectInstanceStatus");
    Params p55 = {{"InstanceId", i0}, {"SecurityGroupIds.1", "sg-nope"}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceAttribute", p55)),
              "InvalidSecurityGroupId.NotFound");
    Params p56 = {{"InstanceId", i0}, {"InstanceName", "1bad"}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceAttribute", p56)), "InvalidParameter");
    Params p57 = {};

    // Tenancy: B sees none of A's instances and finds none by id.
    auto b_list = co_await Ecs("DescribeInstances", p57, &b_);
    CO_ASSERT_API_OK(b_list);
    EXPECT_EQ((*b_list)["TotalCount"], 0);
    Params p58 = {{"InstanceId", i0}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstanceAttribute", p58, &b_)),
              "InvalidInstanceId.NotFound");
    Params p59 = {{"InstanceId", i0}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeUserData", p59, &b_)), "InvalidInstanceId.NotFound");
    Params p60 = {{"InstanceId", i0}, {"Force", "true"}};
    EXPECT_EQ(CodeOf(co_await Ecs("DeleteInstance", p60, &b_)), "InvalidInstanceId.NotFound");
    Params p61 = {{"InstanceId", i0}, {"InstanceName", "mine"}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceAttribute", p61, &b_)),
              "InvalidInstanceId.NotFound");
    Params p62 = {{"InstanceId", i0}, {"Force", "true"}};

    // Deletes: protection first, then the status, then gone with its records.
    EXPECT_EQ(CodeOf(co_await Ecs("DeleteInstance", p62)), "InvalidOperation.DeletionProtection");
    Params p63 = {{"InstanceId", i0}, {"DeletionProtection", "false"}};
    CO_ASSERT_API_OK(co_await Ecs("ModifyInstanceAttribute", p63));
    Params p64 = {{"InstanceId", i0}};
    EXPECT_EQ(CodeOf(co_await Ecs("DeleteInstance", p64)), "IncorrectInstanceStatus");
    Params p65 = {{"InstanceId", i0}, {"Force", "true"}};
    CO_ASSERT_API_OK(co_await Ecs("DeleteInstance", p65));
    Params p66 = {};
    EXPECT_EQ(co_await count(p66), 1);
    Params p67 = {{"InstanceId", i0}};
    EXPECT_EQ(CodeOf(co_await Ecs("DescribeInstanceAttribute", p67)), "InvalidInstanceId.NotFound");
    EXPECT_FALSE((co_await Record(i0)).has_value());
    EXPECT_FALSE((co_await Record(system_disk)).has_value());
    EXPECT_FALSE((co_await Record(eni0)).has_value());
    data_rec = co_await Record(data_disk);  // kept: DeleteWithInstance=false
    CO_ASSERT_TRUE(data_rec.has_value());
    EXPECT_EQ(data_rec->extra["instance"], "");
    Params p68 = Launch({{"InstanceName", "box"}});

    // CreateInstance ends Stopped; its type changes only then.
    auto created = co_await Ecs("CreateInstance", p68);
    CO_ASSERT_API_OK(created);
    const std::string i2 = (*created)["InstanceId"];
    Params p69 = {{"InstanceId", i2}};
    attr = co_await Ecs("DescribeInstanceAttribute", p69);
    CO_ASSERT_API_OK(attr);
    EXPECT_EQ((*attr)["Status"], "Stopped");
    Params p70 = {{"InstanceId", i2}, {"InstanceType", "ecs.no.such"}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceSpec", p70)), "InvalidInstanceType.NotFound");
    Params p71 = {{"InstanceId", i1}, {"InstanceType", "ecs.g7.large"}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceSpec", p71)), "IncorrectInstanceStatus");
    Params p72 = {{"InstanceId", i2}, {"InstanceType", "ecs.g7.large"}};
    CO_ASSERT_API_OK(co_await Ecs("ModifyInstanceSpec", p72));
    Params p73 = {{"InstanceId", i2}, {"UserData", user_data}};
    CO_ASSERT_API_OK(co_await Ecs("ModifyInstanceAttribute", p73));
    Params p74 = {{"InstanceId", i2}};
    attr = co_await Ecs("DescribeInstanceAttribute", p74);
    CO_ASSERT_API_OK(attr);
    EXPECT_EQ((*attr)["InstanceType"], "ecs.g7.large");
    EXPECT_EQ((*attr)["Cpu"], 2);
    EXPECT_EQ((*attr)["Memory"], 8192);
    Params p75 = {{"InstanceId.1", i2}, {"InstanceId.2", i1}};
    auto starts = co_await Ecs("StartInstances", p75, nullptr);
    CO_ASSERT_API_OK(starts);
    const Json& ss = (*starts)["InstanceResponses"]["InstanceResponse"];
    CO_ASSERT_EQ(ss.size(), 2u);
    EXPECT_EQ(ss[0]["Code"], "200");
    EXPECT_EQ(ss[0]["PreviousStatus"], "Stopped");
    EXPECT_EQ(ss[0]["CurrentStatus"], "Starting");
    EXPECT_EQ(ss[1]["Code"], "IncorrectInstanceStatus");
    Params p76 = {{"InstanceIds", "[\"" + i1 + "\"]"}};

    // Terraform's neutral reads.
    auto ram = co_await Ecs("DescribeInstanceRamRole", p76);
    CO_ASSERT_API_OK(ram);
    EXPECT_EQ((*ram)["InstanceRamRoleSets"]["InstanceRamRoleSet"][0]["InstanceId"], i1);
    Params p77 = {{"InstanceIds", "[\"" + i1 + "\"]"}};
    auto pools = co_await Ecs("DescribeInstanceAttachmentAttributes", p77);
    CO_ASSERT_API_OK(pools);
    EXPECT_EQ((*pools)["Instances"]["Instance"][0]["PrivatePoolOptionsId"], "");
    Params p78 = {{"InstanceId.1", i1}};
    auto maint = co_await Ecs("DescribeInstanceMaintenanceAttributes", p78);
    CO_ASSERT_API_OK(maint);
    EXPECT_EQ((*maint)["MaintenanceAttributes"]["MaintenanceAttribute"].size(), 1u);
    EXPECT_EQ((*maint)["MaintenanceAttributes"]["MaintenanceAttribute"][0]["ActionOnMaintenance"]
                      ["Value"],
              "AutoRecover");
    // What happens on a host failure: set, seen, and only by the owner.
    Params stop = {{"InstanceId.1", i1}, {"ActionOnMaintenance", "Stop"}};
    EXPECT_EQ(CodeOf(co_await Ecs("ModifyInstanceMaintenanceAttributes", stop, &b_)),
              "InvalidInstanceId.NotFound");
    Params bad = {{"InstanceId.1", i1}, {"ActionOnMaintenance", "Explode"}};
    EXPECT_FALSE((co_await Ecs("ModifyInstanceMaintenanceAttributes", bad)).ok());
    CO_ASSERT_API_OK(co_await Ecs("ModifyInstanceMaintenanceAttributes", stop));
    auto record = co_await services_->compute.Read();
    CO_ASSERT_TRUE(record.ok());
    EXPECT_EQ(record->instances.at(i1).value.on_host_failure, compute::FailureAction::kStop);
    maint = co_await Ecs("DescribeInstanceMaintenanceAttributes", p78);
    CO_ASSERT_API_OK(maint);
    EXPECT_EQ((*maint)["MaintenanceAttributes"]["MaintenanceAttribute"][0]["ActionOnMaintenance"]
                      ["Value"],
              "Stop");
    // System events: the scheduler's records, the owner's alone, finished
    // ones by default.
    compute::InstanceEvent ev{.id = "e-test1",
                              .instance = i1,
                              .type = std::string(compute::kEventRedeploy),
                              .status = std::string(compute::kEventExecuted),
                              .reason = "host h1 failed",
                              .from_host = "h1",
                              .to_host = "h2",
                              .incarnation = 1,
                              .created_at = 1700000000000,
                              .finished_at = 1700000004000};
    CO_ASSERT_TRUE(
        (co_await client().Put(compute::EventKey(i1, ev.id), compute::EncodeInstanceEvent(ev)))
            .ok());
    ev.id = "e-test2";
    ev.status = std::string(compute::kEventExecuting);
    ev.finished_at = 0;
    // Of the instance's own incarnation, or the server's scheduler would
    // cancel it at once as superseded.
    ev.incarnation = 0;
    CO_ASSERT_TRUE(
        (co_await client().Put(compute::EventKey(i1, ev.id), compute::EncodeInstanceEvent(ev)))
            .ok());
    Params history = {{"InstanceId", i1}};
    auto events = co_await Ecs("DescribeInstanceHistoryEvents", history);
    CO_ASSERT_API_OK(events);
    const Json& set = (*events)["InstanceSystemEventSet"]["InstanceSystemEventType"];
    CO_ASSERT_TRUE(set.size() == 1u);
    EXPECT_EQ(set[0]["EventId"], "e-test1");
    EXPECT_EQ(set[0]["EventType"]["Name"], "SystemFailure.Redeploy");
    EXPECT_EQ(set[0]["EventCycleStatus"]["Name"], "Executed");
    EXPECT_EQ(set[0]["EventFinishTime"], "2023-11-14T22:13:24Z");
    Params executing = {{"InstanceId", i1}, {"InstanceEventCycleStatus.1", "Executing"}};
    events = co_await Ecs("DescribeInstanceHistoryEvents", executing);
    CO_ASSERT_API_OK(events);
    EXPECT_EQ((*events)["InstanceSystemEventSet"]["InstanceSystemEventType"].size(), 1u);
    Params all = {};
    events = co_await Ecs("DescribeInstanceHistoryEvents", all, &b_);
    CO_ASSERT_API_OK(events);
    EXPECT_TRUE((*events)["InstanceSystemEventSet"]["InstanceSystemEventType"].empty());
    // RedeployInstance moves a Running instance live: one no host runs
    // yet is refused, and another tenant's is not found.
    Params redeploy = {{"InstanceId", i1}, {"ForceStop", "false"}};
    EXPECT_EQ(CodeOf(co_await Ecs("RedeployInstance", redeploy, &b_)),
              "InvalidInstanceId.NotFound");
    EXPECT_EQ(CodeOf(co_await Ecs("RedeployInstance", redeploy)), "IncorrectInstanceStatus");
    Params no_id = {};
    EXPECT_EQ(CodeOf(co_await Ecs("RedeployInstance", no_id)), "MissingParameter");
    Params p79 = {{"InstanceIds", "[\"" + i1 + "\"]"}};
    auto none = co_await Ecs("DescribeInstanceRamRole", p79, &b_);
    CO_ASSERT_API_OK(none);
    EXPECT_TRUE((*none)["InstanceRamRoleSets"]["InstanceRamRoleSet"].empty());

    // Quota: A holds 2; at 3 one more fits, so Amount=2 MinAmount=1 makes
    // one and Amount=2 alone makes none.
    settings_.quotas.instances = 3;
    Params p80 = Launch({{"Amount", "2"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p80)), "QuotaExceed.ElasticQuota");
    Params p81 = {};
    EXPECT_EQ(co_await count(p81), 2);
    Params p82 = Launch({{"Amount", "2"}, {"MinAmount", "1"}});
    auto partial = co_await Ecs("RunInstances", p82);
    CO_ASSERT_API_OK(partial);
    EXPECT_EQ((*partial)["InstanceIdSets"]["InstanceIdSet"].size(), 1u);
    Params p83 = {};
    EXPECT_EQ(co_await count(p83), 3);
    Params p84 = Launch();
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", p84)), "QuotaExceed.ElasticQuota");
    settings_.quotas.instances = 100;

    // DeleteInstances checks every one before deleting any.
    const std::string i3 = (*partial)["InstanceIdSets"]["InstanceIdSet"][0];
    Params p85 = {{"InstanceId.1", i3}, {"InstanceId.2", "i-nope"}, {"Force", "true"}};
    EXPECT_EQ(CodeOf(co_await Ecs("DeleteInstances", p85)), "InvalidInstanceId.NotFound");
    Params p86 = {};
    EXPECT_EQ(co_await count(p86), 3);
    Params p87 = {{"InstanceId.1", i3}, {"InstanceId.2", i2}, {"Force", "true"}};
    CO_ASSERT_API_OK(co_await Ecs("DeleteInstances", p87));
    Params p88 = {};
    EXPECT_EQ(co_await count(p88), 1);
  }());
}

// GetInstanceConsoleOutput: an unbound instance has no console; a bound
// one's host agent answers the request (played here by a responder that
// answers the request key's nonce, as the agent does).
TEST_F(InstanceActionsTest, ConsoleOutputComesFromTheHostsAnswer) {
  tg::testing::RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Prepare());
    Params p89 = Launch();
    auto run = co_await Ecs("RunInstances", p89);
    CO_ASSERT_API_OK(run);
    const std::string id = (*run)["InstanceIdSets"]["InstanceIdSet"][0];
    Params p90 = {{"InstanceId", id}};

    auto empty = co_await Ecs("GetInstanceConsoleOutput", p90);
    CO_ASSERT_API_OK(empty);
    EXPECT_EQ((*empty)["InstanceId"], id);
    EXPECT_EQ((*empty)["ConsoleOutput"], "");
    Params p91 = {{"InstanceId", id}};
    EXPECT_EQ(CodeOf(co_await Ecs("GetInstanceConsoleOutput", p91, &b_)),
              "InvalidInstanceId.NotFound");
    Params p92 = {};
    EXPECT_EQ(CodeOf(co_await Ecs("GetInstanceConsoleOutput", p92)), "MissingParameter");

    std::function<Status(compute::Instance&)> bind = [](compute::Instance& v) {
      v.host = "node-x";
      return Status::Ok();
    };
    CO_ASSERT_TRUE((co_await compute_->UpdateInstance(id, bind)).ok());
    const std::string log = "Debian GNU/Linux 12 tiny ttyS0\nlogin: ";
    bool answered = false;
    auto responder = [&]() -> Task<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      for (int i = 0; i < 400 && !answered; ++i) {
        auto req = co_await client().Get(compute::ConsoleRequestKey(id));
        if (req.ok() && !req->kvs.empty()) {
          auto j = nlohmann::json::parse(req->kvs[0].value);
          nlohmann::json out = {
              {"nonce", j["nonce"]}, {"output", compute::EncodeBase64(log)}, {"time", 1764644640}};
          auto put = co_await client().Put(compute::ConsoleOutputKey(id), out.dump());
          answered = put.ok();
          co_return;
        }
        timer.expires_after(std::chrono::milliseconds(50));
        co_await timer.async_wait(asio::use_awaitable);
      }
    };
    asio::co_spawn(io_, responder(), asio::detached);
    Params p93 = {{"InstanceId", id}};
    // The bind was written by another client: the API's records show it a
    // moment later, and until then the instance has no host to ask.
    auto got = co_await Ecs("GetInstanceConsoleOutput", p93);
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (int i = 0; i < 100 && got.ok() && (*got)["ConsoleOutput"] == ""; ++i) {
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::use_awaitable);
      got = co_await Ecs("GetInstanceConsoleOutput", p93);
    }
    CO_ASSERT_API_OK(got);
    EXPECT_TRUE(answered);
    EXPECT_EQ((*got)["ConsoleOutput"], compute::EncodeBase64(log));
    EXPECT_EQ((*got)["LastUpdateTime"], "2025-12-02T03:04:00Z");
  }());
}

// A data disk from the caller's snapshot is a clone of the storage
// snapshot of that name, grown to Size; another account's snapshot is not
// found.
TEST_F(InstanceActionsTest, DataDisksFromSnapshots) {
  tg::testing::RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Prepare());
    storage::CreateVolumeRequest source{.name = "d-source", .size = 1 << 20, .wait = true};
    auto made = co_await volumes_.Create(source);
    CO_ASSERT_TRUE(made.ok());
    auto snap = co_await volumes_.Snapshot("d-source", "s-snap1");
    CO_ASSERT_TRUE(snap.ok());
    ResourceRecord r;
    r.id = "s-snap1";
    r.kind = std::string(kind::kSnapshot);
    r.account = a_.id;
    CO_ASSERT_TRUE((co_await registry_.Create(r)).ok());

    Params unknown = Launch({{"DataDisk.1.SnapshotId", "s-nope"}});
    EXPECT_EQ(CodeOf(co_await Ecs("RunInstances", unknown)), "InvalidSnapshotId.NotFound");
    Params p = Launch({{"DataDisk.1.SnapshotId", "s-snap1"},
                       {"DataDisk.2.SnapshotId", "s-snap1"},
                       {"DataDisk.2.Size", "1"}});
    auto run = co_await Ecs("RunInstances", p);
    CO_ASSERT_API_OK(run);
    const std::string id = (*run)["InstanceIdSets"]["InstanceIdSet"][0];
    auto got = co_await client().Get(compute::InstanceKey(id));
    CO_ASSERT_TRUE(got.ok() && !got->kvs.empty());
    auto inst = compute::DecodeInstance(got->kvs[0].value);
    CO_ASSERT_TRUE(inst.ok());
    CO_ASSERT_EQ(inst->disks.size(), 3u);
    EXPECT_EQ(inst->disks[1].size, uint64_t{1} << 20);  // the snapshot's size
    EXPECT_EQ(inst->disks[2].size, uint64_t{1} << 30);  // grown to Size
    auto rec = co_await Record(inst->disks[1].id);
    CO_ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->extra["source_snapshot"], "s-snap1");
  }());
}

}  // namespace
}  // namespace tg::api::testing
