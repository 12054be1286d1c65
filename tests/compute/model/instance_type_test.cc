// The instance type catalogue: lookups, the operator's own types, and what a
// type may be.
#include "compute/model/instance_type.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "support/test_util.h"

namespace tg::compute {
namespace {

TEST(InstanceTypeTest, CatalogueHoldsTheTestAndAlibabaTypes) {
  struct Want {
    std::string name;
    uint32_t vcpus;
    uint64_t memory_mib;
  };
  for (const Want& w : std::vector<Want>{{"ecs.t6-c1m1.small", 1, 512},
                                         {"ecs.t6-c2m1.small", 2, 512},
                                         {"ecs.t6-c1m1.large", 2, 2048},
                                         {"ecs.t6-c1m2.large", 2, 4096},
                                         {"ecs.g7.large", 2, 8192},
                                         {"ecs.g7.xlarge", 4, 16384},
                                         {"ecs.g7.2xlarge", 8, 32768},
                                         {"ecs.g7.16xlarge", 64, 262144},
                                         {"ecs.c7.large", 2, 4096},
                                         {"ecs.c7.xlarge", 4, 8192},
                                         {"ecs.r7.large", 2, 16384}}) {
    Result<InstanceType> t = FindInstanceType(w.name, {});
    ASSERT_OK(t.status());
    EXPECT_EQ(t->vcpus, w.vcpus) << w.name;
    EXPECT_EQ(t->memory_mib, w.memory_mib) << w.name;
    EXPECT_TRUE(t->builtin) << w.name;
  }
  EXPECT_EQ(FindInstanceType("ecs.t6-c1m1.small", {})->family, "ecs.t6-c1m1");
  EXPECT_EQ(FindInstanceType("ecs.g7.2xlarge", {})->family, "ecs.g7");
}

TEST(InstanceTypeTest, EveryBuiltinTypeIsValidAndNamedOnce) {
  std::set<std::string> names;
  for (const InstanceType& t : BuiltinInstanceTypes()) {
    EXPECT_OK(ValidateInstanceType(t));
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
  }
}

TEST(InstanceTypeTest, UnknownTypeIsNotFound) {
  Result<InstanceType> t = FindInstanceType("ecs.g7.huge", {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(t.status().message().find("ecs.g7.huge"), std::string::npos);
}

TEST(InstanceTypeTest, OperatorRecordOverridesTheCatalogue) {
  const std::vector<InstanceType> ops{{"ecs.g7.large", "ecs.g7", 3, 6144, false},
                                      {"ecs.lab.tiny", "ecs.lab", 1, 256, false}};
  Result<InstanceType> t = FindInstanceType("ecs.g7.large", ops);
  ASSERT_OK(t.status());
  EXPECT_EQ(t->vcpus, 3u);
  EXPECT_FALSE(t->builtin);
  EXPECT_EQ(FindInstanceType("ecs.lab.tiny", ops)->memory_mib, 256u);

  const std::vector<InstanceType> all = AllInstanceTypes(ops);
  EXPECT_EQ(all.size(), BuiltinInstanceTypes().size() + 1);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                             [](const auto& a, const auto& b) { return a.name < b.name; }));
  const auto g7 =
      std::find_if(all.begin(), all.end(), [](const auto& x) { return x.name == "ecs.g7.large"; });
  ASSERT_NE(g7, all.end());
  EXPECT_EQ(g7->vcpus, 3u);
}

TEST(InstanceTypeTest, ValidationRefusesBadTypes) {
  const InstanceType good{"ecs.lab.tiny", "ecs.lab", 1, 128, false};
  EXPECT_OK(ValidateInstanceType(good));
  EXPECT_OK(ValidateInstanceType({"ecs.lab.max", "ecs.lab", 256, uint64_t{4} << 20, false}));
  auto bad = [&](auto change) {
    InstanceType t = good;
    change(t);
    return ValidateInstanceType(t).code() == ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](InstanceType& t) { t.name = "g7.large", t.family = "g7"; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.name = "ecs.large", t.family = "ecs"; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.name = "ecs.Lab.tiny", t.family = "ecs.Lab"; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.name = "ecs.lab.", t.family = "ecs.lab"; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.name = "ecs..tiny", t.family = "ecs."; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.name = "ecs.la_b.tiny", t.family = "ecs.la_b"; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.family = "ecs.other"; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.vcpus = 0; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.vcpus = 257; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.memory_mib = 0; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.memory_mib = 200; }));
  EXPECT_TRUE(bad([](InstanceType& t) { t.memory_mib = (uint64_t{4} << 20) + 128; }));
}

}  // namespace
}  // namespace tg::compute
