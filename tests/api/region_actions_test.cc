// ECS regions, zones, available resources and instance types against a
// real etcd and the real compute store (no chunkservers): the one region,
// the zones of the registered compute nodes (or the default zone), the
// catalogue with the operator's types, each reply's shape and paging.
#include <gtest/gtest.h>

#include "api_fixture.h"
#include "compute/model/records.h"

namespace tg::api::testing {
namespace {

class RegionActionsTest : public ApiTest {};

bool Contains(const Json& list, std::string_view value) {
  for (const auto& v : list)
    if (v == value) return true;
  return false;
}

TEST_F(RegionActionsTest, RegionsAndZones) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto regions = co_await ECS("DescribeRegions", {{"AcceptLanguage", "en-US"}});
    CO_ASSERT_API_OK(regions);
    const Json& region = (*regions)["Regions"]["Region"];
    CO_ASSERT_EQ(region.size(), 1u);
    EXPECT_EQ(region[0]["RegionId"], "cn-tiangong");
    EXPECT_EQ(region[0]["LocalName"], "Tiangong");
    EXPECT_EQ(region[0]["RegionEndpoint"], "127.0.0.1");
    EXPECT_EQ(region[0]["Status"], "available");
    EXPECT_EQ(CodeOf(co_await ECS("DescribeRegions", {{"AcceptLanguage", "fr"}})),
              "InvalidParameter");

    // No compute node: the default zone.
    auto zones = co_await ECS("DescribeZones", {});
    CO_ASSERT_API_OK(zones);
    const Json& zone = (*zones)["Zones"]["Zone"];
    CO_ASSERT_EQ(zone.size(), 1u);
    EXPECT_EQ(zone[0]["ZoneId"], "z1");
    EXPECT_EQ(zone[0]["LocalName"], "z1");
    const Json& types = zone[0]["AvailableInstanceTypes"]["InstanceTypes"];
    EXPECT_TRUE(Contains(types, "ecs.t6-c1m1.small"));
    EXPECT_TRUE(Contains(types, "ecs.g7.large"));
    EXPECT_TRUE(Contains(zone[0]["AvailableResourceCreation"]["ResourceTypes"], "Instance"));
    EXPECT_TRUE(Contains(zone[0]["AvailableResourceCreation"]["ResourceTypes"], "VSwitch"));
    EXPECT_TRUE(Contains(zone[0]["AvailableDiskCategories"]["DiskCategories"], "cloud_essd"));
    const Json& info = zone[0]["AvailableResources"]["ResourcesInfo"];
    CO_ASSERT_EQ(info.size(), 1u);
    EXPECT_TRUE(Contains(info[0]["InstanceTypes"]["supportedInstanceType"], "ecs.c7.large"));
    EXPECT_TRUE(
        Contains(info[0]["SystemDiskCategories"]["supportedSystemDiskCategory"], "cloud_essd"));
    EXPECT_TRUE(
        Contains(info[0]["DataDiskCategories"]["supportedDataDiskCategory"], "cloud_efficiency"));
    EXPECT_TRUE(Contains(info[0]["NetworkTypes"]["supportedNetworkType"], "vpc"));
    EXPECT_EQ(info[0]["IoOptimized"], true);
    auto brief = co_await ECS("DescribeZones", {{"Verbose", "false"}});
    CO_ASSERT_API_OK(brief);
    EXPECT_EQ((*brief)["Zones"]["Zone"][0].size(), 2u);  // ZoneId, LocalName
    EXPECT_EQ(CodeOf(co_await ECS("DescribeZones", {{"Verbose", "maybe"}})), "InvalidParameter");

    // Registered compute nodes decide the zones.
    std::vector<std::pair<std::string, std::string>> nodes;
    nodes.emplace_back("n1", "z2");
    nodes.emplace_back("n2", "z3");
    nodes.emplace_back("n3", "z2");
    for (const auto& [name, z] : nodes) {
      compute::ComputeNode node;
      node.name = name;
      node.zone = z;
      node.capacity.vcpus = 4;
      node.capacity.memory_mib = 8192;
      auto put = co_await client().Put(compute::NodeKey(name), compute::EncodeComputeNode(node));
      CO_ASSERT_TRUE(put.ok());
    }
    auto two = co_await ECS("DescribeZones", {});
    CO_ASSERT_API_OK(two);
    const Json& z = (*two)["Zones"]["Zone"];
    CO_ASSERT_EQ(z.size(), 2u);
    EXPECT_EQ(z[0]["ZoneId"], "z2");
    EXPECT_EQ(z[1]["ZoneId"], "z3");

    // DescribeAvailableResource.
    EXPECT_EQ(CodeOf(co_await ECS("DescribeAvailableResource", {})), "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("DescribeAvailableResource", {{"DestinationResource", "Gpu"}})),
              "InvalidParameter");
    auto by_zone = co_await ECS("DescribeAvailableResource", {{"DestinationResource", "Zone"}});
    CO_ASSERT_API_OK(by_zone);
    const Json& az = (*by_zone)["AvailableZones"]["AvailableZone"];
    CO_ASSERT_EQ(az.size(), 2u);
    EXPECT_EQ(az[0]["ZoneId"], "z2");
    EXPECT_EQ(az[0]["Status"], "Available");
    EXPECT_EQ(az[0]["RegionId"], "cn-tiangong");
    const Json& res = az[0]["AvailableResources"]["AvailableResource"];
    CO_ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(res[0]["Type"], "Zone");
    EXPECT_EQ(res[0]["SupportedResources"]["SupportedResource"][0]["Value"], "z2");
    EXPECT_EQ(res[0]["SupportedResources"]["SupportedResource"][0]["Status"], "Available");
    auto types_in =
        co_await ECS("DescribeAvailableResource", {{"DestinationResource", "InstanceType"},
                                                   {"ZoneId", "z3"},
                                                   {"Cores", "2"},
                                                   {"Memory", "4"},
                                                   {"IoOptimized", "optimized"},
                                                   {"InstanceChargeType", "PostPaid"}});
    CO_ASSERT_API_OK(types_in);
    const Json& t = (*types_in)["AvailableZones"]["AvailableZone"];
    CO_ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0]["ZoneId"], "z3");
    const Json& supported = t[0]["AvailableResources"]["AvailableResource"][0]["SupportedResources"]
                             ["SupportedResource"];
    CO_ASSERT_EQ(supported.size(), 2u);  // ecs.c7.large, ecs.t6-c1m2.large
    EXPECT_EQ(supported[0]["Value"], "ecs.c7.large");
    auto disks = co_await ECS("DescribeAvailableResource", {{"DestinationResource", "SystemDisk"},
                                                            {"InstanceType", "ecs.g7.large"},
                                                            {"ZoneId", "z2"}});
    CO_ASSERT_API_OK(disks);
    const Json& d = (*disks)["AvailableZones"]["AvailableZone"][0]["AvailableResources"]
                            ["AvailableResource"][0];
    EXPECT_EQ(d["Type"], "SystemDisk");
    const Json& essd = d["SupportedResources"]["SupportedResource"][0];
    EXPECT_EQ(essd["Value"], "cloud_essd");
    EXPECT_EQ(essd["Min"], 20);
    EXPECT_EQ(essd["Max"], 2048);
    EXPECT_EQ(essd["Unit"], "GiB");
    auto data = co_await ECS("DescribeAvailableResource", {{"DestinationResource", "DataDisk"},
                                                           {"DataDiskCategory", "cloud_ssd"}});
    CO_ASSERT_API_OK(data);
    const Json& dd = (*data)["AvailableZones"]["AvailableZone"][0]["AvailableResources"]
                            ["AvailableResource"][0]["SupportedResources"]["SupportedResource"];
    CO_ASSERT_EQ(dd.size(), 1u);
    EXPECT_EQ(dd[0]["Value"], "cloud_ssd");
    EXPECT_EQ(dd[0]["Max"], 32768);
    auto nothing =
        co_await ECS("DescribeAvailableResource",
                     {{"DestinationResource", "InstanceType"}, {"InstanceType", "ecs.x.y"}});
    CO_ASSERT_API_OK(nothing);
    EXPECT_EQ((*nothing)["AvailableZones"]["AvailableZone"].size(), 0u);
    auto no_zone = co_await ECS("DescribeAvailableResource",
                                {{"DestinationResource", "Zone"}, {"ZoneId", "z9"}});
    CO_ASSERT_API_OK(no_zone);
    EXPECT_EQ((*no_zone)["AvailableZones"]["AvailableZone"].size(), 0u);
    EXPECT_EQ(CodeOf(co_await ECS("DescribeAvailableResource",
                                  {{"DestinationResource", "Zone"}, {"Memory", "lots"}})),
              "InvalidParameter");
  }());
}

TEST_F(RegionActionsTest, InstanceTypes) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    compute::InstanceType mine{
        .name = "ecs.lab.tiny", .family = "ecs.lab", .vcpus = 1, .memory_mib = 768};
    Status added = co_await compute_->AddInstanceType(mine);
    CO_ASSERT_TRUE(added.ok());

    auto all = co_await ECS("DescribeInstanceTypes", {});
    CO_ASSERT_API_OK(all);
    const Json& types = (*all)["InstanceTypes"]["InstanceType"];
    EXPECT_EQ(types.size(), compute::BuiltinInstanceTypes().size() + 1);
    EXPECT_EQ((*all)["NextToken"], "");
    bool saw_tiny = false, saw_small = false;
    for (const auto& t : types) {
      if (t["InstanceTypeId"] == "ecs.lab.tiny") {
        saw_tiny = true;
        EXPECT_EQ(t["InstanceTypeFamily"], "ecs.lab");
        EXPECT_EQ(t["CpuCoreCount"], 1);
        EXPECT_DOUBLE_EQ(t["MemorySize"].get<double>(), 0.75);
      }
      if (t["InstanceTypeId"] == "ecs.t6-c1m1.small") {
        saw_small = true;
        EXPECT_DOUBLE_EQ(t["MemorySize"].get<double>(), 0.5);
        EXPECT_EQ(t["GPUAmount"], 0);
        EXPECT_EQ(t["EniQuantity"], 8);
      }
    }
    EXPECT_TRUE(saw_tiny);
    EXPECT_TRUE(saw_small);

    auto named = co_await ECS("DescribeInstanceTypes", {{"InstanceTypes.1", "ecs.g7.large"},
                                                        {"InstanceTypes.2", "ecs.c7.large"}});
    CO_ASSERT_API_OK(named);
    const Json& n = (*named)["InstanceTypes"]["InstanceType"];
    CO_ASSERT_EQ(n.size(), 2u);
    EXPECT_EQ(n[0]["InstanceTypeId"], "ecs.c7.large");
    EXPECT_EQ(n[0]["CpuCoreCount"], 2);
    EXPECT_DOUBLE_EQ(n[0]["MemorySize"].get<double>(), 4.0);
    auto family = co_await ECS("DescribeInstanceTypes", {{"InstanceTypeFamily", "ecs.g7"}});
    CO_ASSERT_API_OK(family);
    EXPECT_EQ((*family)["InstanceTypes"]["InstanceType"].size(), 4u);
    auto cores = co_await ECS("DescribeInstanceTypes",
                              {{"MinimumCpuCoreCount", "4"}, {"MaximumCpuCoreCount", "8"}});
    CO_ASSERT_API_OK(cores);
    EXPECT_EQ((*cores)["InstanceTypes"]["InstanceType"].size(),
              3u);  // g7.xlarge, 2xlarge, c7.xlarge

    // Token paging: pages of 5 until NextToken is "".
    size_t seen = 0;
    std::string next;
    for (int page = 0; page < 10; ++page) {
      Params p;
      p["MaxResults"] = "5";
      if (!next.empty()) p["NextToken"] = next;
      auto r = co_await ECS("DescribeInstanceTypes", p);
      CO_ASSERT_API_OK(r);
      seen += (*r)["InstanceTypes"]["InstanceType"].size();
      next = (*r)["NextToken"];
      if (next.empty()) break;
    }
    EXPECT_EQ(seen, types.size());
    EXPECT_EQ(CodeOf(co_await ECS("DescribeInstanceTypes", {{"NextToken", "abc"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await ECS("DescribeInstanceTypes", {{"MaxResults", "x"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await ECS("DescribeInstanceTypes", {{"Bogus", "1"}})), "InvalidParameter");

    auto families = co_await ECS("DescribeInstanceTypeFamilies", {});
    CO_ASSERT_API_OK(families);
    const Json& f = (*families)["InstanceTypeFamilies"]["InstanceTypeFamily"];
    bool saw_g7 = false;
    for (const auto& fam : f) {
      EXPECT_EQ(fam["Generation"], "ecs-5");
      if (fam["InstanceTypeFamilyId"] == "ecs.g7") saw_g7 = true;
    }
    EXPECT_TRUE(saw_g7);
    EXPECT_EQ(f.size(), 7u);  // c7, g7, r7, lab and three t6-... families
  }());
}

}  // namespace
}  // namespace tg::api::testing
