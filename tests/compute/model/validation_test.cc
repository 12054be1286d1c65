// The name rules of instances, hostnames, images and key pairs.
#include <gtest/gtest.h>

#include "compute/model/image.h"
#include "compute/model/instance.h"
#include "compute/model/key_pair.h"
#include "compute/model/node.h"
#include "support/test_util.h"

namespace tg::compute {
namespace {

bool Refused(const Status& s) {
  return s.code() == ErrorCode::kInvalidArgument;
}

TEST(ValidationTest, InstanceNames) {
  EXPECT_OK(ValidateInstanceName("web-1"));
  EXPECT_OK(ValidateInstanceName("ab"));
  EXPECT_OK(ValidateInstanceName("a:b_c.d-e9"));
  EXPECT_OK(ValidateInstanceName("\xe6\xb5\x8b\xe8\xaf\x95-1"));  // 测试-1
  EXPECT_OK(ValidateInstanceName(std::string(128, 'a')));
  EXPECT_TRUE(Refused(ValidateInstanceName("")));
  EXPECT_TRUE(Refused(ValidateInstanceName("a")));
  EXPECT_TRUE(Refused(ValidateInstanceName(std::string(129, 'a'))));
  EXPECT_TRUE(Refused(ValidateInstanceName("1web")));
  EXPECT_TRUE(Refused(ValidateInstanceName("-web")));
  EXPECT_TRUE(Refused(ValidateInstanceName("web 1")));
  EXPECT_TRUE(Refused(ValidateInstanceName("web/1")));
  EXPECT_TRUE(Refused(ValidateInstanceName("http://x")));
  EXPECT_TRUE(Refused(ValidateInstanceName("ab\xff")));             // not UTF-8
  EXPECT_TRUE(Refused(ValidateInstanceName("ab\xe6\xb5")));         // cut short
  EXPECT_TRUE(Refused(ValidateInstanceName("ab\xc0\xaf")));         // overlong '/'
  EXPECT_TRUE(Refused(ValidateInstanceName("\xc3\xa9t\xc3\xa9")));  // "été": not Chinese
}

TEST(ValidationTest, Hostnames) {
  EXPECT_OK(ValidateHostname("web-1"));
  EXPECT_OK(ValidateHostname("web-1.example.com"));
  EXPECT_OK(ValidateHostname("Ab"));
  EXPECT_OK(ValidateHostname(std::string(64, 'h')));
  EXPECT_TRUE(Refused(ValidateHostname("h")));
  EXPECT_TRUE(Refused(ValidateHostname(std::string(65, 'h'))));
  EXPECT_TRUE(Refused(ValidateHostname("-web")));
  EXPECT_TRUE(Refused(ValidateHostname("web-")));
  EXPECT_TRUE(Refused(ValidateHostname(".web")));
  EXPECT_TRUE(Refused(ValidateHostname("web.")));
  EXPECT_TRUE(Refused(ValidateHostname("web..x")));
  EXPECT_TRUE(Refused(ValidateHostname("web_1")));
  EXPECT_TRUE(Refused(ValidateHostname("web 1")));
}

TEST(ValidationTest, ImageAndKeyPairNames) {
  EXPECT_OK(ValidateImageName("debian-12.5_x86:64"));
  EXPECT_OK(ValidateImageName("\xe9\x95\x9c\xe5\x83\x8f"));  // 镜像
  EXPECT_TRUE(Refused(ValidateImageName("9debian")));
  EXPECT_TRUE(Refused(ValidateImageName("d")));
  EXPECT_OK(ValidateKeyPairName("my-key_1"));
  EXPECT_TRUE(Refused(ValidateKeyPairName("\xe9\x95\x9c\xe5\x83\x8f")));  // no Chinese here
  EXPECT_TRUE(Refused(ValidateKeyPairName("_key")));
  EXPECT_TRUE(Refused(ValidateKeyPairName("key pair")));
}

TEST(ValidationTest, StatusNamesRoundTripAndUnknownOnesAreRefused) {
  for (auto s : {InstanceStatus::kPending, InstanceStatus::kStarting, InstanceStatus::kRunning,
                 InstanceStatus::kStopping, InstanceStatus::kStopped}) {
    EXPECT_EQ(*ParseInstanceStatus(InstanceStatusName(s)), s);
  }
  EXPECT_EQ(InstanceStatusName(InstanceStatus::kRunning), "Running");
  for (auto s : {PowerState::kRunning, PowerState::kStopped})
    EXPECT_EQ(*ParsePowerState(PowerStateName(s)), s);
  for (auto s : {ImageStatus::kCreating, ImageStatus::kAvailable, ImageStatus::kCreateFailed})
    EXPECT_EQ(*ParseImageStatus(ImageStatusName(s)), s);
  EXPECT_EQ(ImageStatusName(ImageStatus::kCreateFailed), "CreateFailed");
  EXPECT_TRUE(Refused(ParseInstanceStatus("running").status()));
  EXPECT_TRUE(Refused(ParseInstanceStatus("Deleted").status()));
  EXPECT_TRUE(Refused(ParsePowerState("").status()));
  EXPECT_TRUE(Refused(ParseImageStatus("Deprecated").status()));
}

TEST(ValidationTest, AllocationUsedSumsAndSaturates) {
  NodeAllocation a{.node = "n1"};
  EXPECT_EQ(a.Used().vcpus, 0u);
  a.instances["i-a"] = {2, 2048};
  a.instances["i-b"] = {1, 512};
  EXPECT_EQ(a.Used().vcpus, 3u);
  EXPECT_EQ(a.Used().memory_mib, 2560u);
  // Records could sum past the field's range: it stays full, never wraps.
  a.instances["i-c"] = {UINT32_MAX, UINT64_MAX};
  EXPECT_EQ(a.Used().vcpus, UINT32_MAX);
  EXPECT_EQ(a.Used().memory_mib, UINT64_MAX);
}

}  // namespace
}  // namespace tg::compute
