// Errors as the official SDKs see them, against a real `tiangong server`
// API: for each, Alibaba's code, the HTTP status, and the error type the
// SDK raises (the V3 SDK's ClientError/ThrottlingError with code and
// statusCode; pop-core's Error with .code). Statuses the pop-core error
// does not carry are read off requests signed here (api::SignV1).
#include <gtest/gtest.h>

#include <thread>

#include "api_cloud.h"

namespace tg::api::e2e {
namespace {

using namespace std::chrono_literals;

// The V3 SDK raised `type` with `code` and `status`.
::testing::AssertionResult V3Error(const Json& answer, const std::string& code, int status,
                                   const std::string& type = "ClientError") {
  if (!answer.contains("error")) return ::testing::AssertionFailure() << answer.dump();
  const Json& e = answer["error"];
  if (e.value("code", "") != code || e.value("statusCode", 0) != status ||
      e.value("name", "") != type) {
    return ::testing::AssertionFailure()
           << "expected " << type << " " << code << " " << status << ", got " << e.dump();
  }
  return ::testing::AssertionSuccess();
}

// pop-core raised its Error with `code` (its name is the code + "Error").
::testing::AssertionResult PopError(const Json& answer, const std::string& code) {
  if (!answer.contains("error")) return ::testing::AssertionFailure() << answer.dump();
  const Json& e = answer["error"];
  if (e.value("code", "") != code || e.value("name", "") != code + "Error")
    return ::testing::AssertionFailure() << "expected " << code << ", got " << e.dump();
  return ::testing::AssertionSuccess();
}

// The raw reply is an Alibaba error `code` with `status`.
::testing::AssertionResult HttpError(const Result<HttpReply>& reply, const std::string& code,
                                     int status) {
  if (!reply.ok()) return ::testing::AssertionFailure() << reply.status();
  const Json j = reply->json();
  if (reply->status != status || !j.is_object() || j.value("Code", "") != code)
    return ::testing::AssertionFailure() << "expected " << code << " " << status << ", got "
                                         << reply->status << " " << reply->body;
  return ::testing::AssertionSuccess();
}

const Json kRegion = {{"regionId", "cn-tiangong"}};

Json WithRegion(Json params) {
  params["regionId"] = "cn-tiangong";
  return params;
}

size_t VpcCount(ApiCloud& cloud, const Tenant& t) {
  Json r = cloud.V3(t, "vpc", "DescribeVpcs", kRegion);
  EXPECT_TRUE(r.contains("ok")) << r.dump();
  return r.contains("ok") ? r["ok"]["TotalCount"].get<size_t>() : 0;
}

TEST(SdkErrorsTest, Signatures) {
  ApiCloud cloud;
  auto alice = cloud.CreateTenant("alice");
  ASSERT_OK(alice.status());
  ASSERT_TRUE(cloud.V3(*alice, "ecs", "DescribeRegions").contains("ok"));

  // A wrong secret: both SDKs, and the server's string to sign in the message.
  Tenant wrong = *alice;
  wrong.access_key_secret = "not-the-secret";
  Json v3 = cloud.V3(wrong, "ecs", "DescribeRegions");
  EXPECT_TRUE(V3Error(v3, "SignatureDoesNotMatch", 400));
  EXPECT_NE(v3["error"].value("message", "").find("server string to sign is:"), std::string::npos)
      << v3.dump();
  Json pop = cloud.Pop(wrong, "ecs", "DescribeRegions");
  EXPECT_TRUE(PopError(pop, "SignatureDoesNotMatch"));
  EXPECT_NE(pop["error"].value("message", "").find("server string to sign is:GET&%2F&"),
            std::string::npos)
      << pop.dump();
  EXPECT_TRUE(
      PopError(cloud.Pop(wrong, "vpc", "DescribeVpcs", {}, "POST"), "SignatureDoesNotMatch"));

  // An AccessKeyId nobody has.
  Tenant unknown = *alice;
  unknown.access_key_id = "LTAI0000NoSuchKey0000000";
  EXPECT_TRUE(
      V3Error(cloud.V3(unknown, "ecs", "DescribeRegions"), "InvalidAccessKeyId.NotFound", 404));
  EXPECT_TRUE(
      PopError(cloud.Pop(unknown, "ecs", "DescribeRegions"), "InvalidAccessKeyId.NotFound"));

  // A disabled key: refused once the servers' key cache (2 s) has let go.
  auto key = cloud.CreateKey(*alice);
  ASSERT_OK(key.status());
  const Tenant second = *key;
  ASSERT_TRUE(cloud.V3(second, "ecs", "DescribeRegions").contains("ok"));
  ASSERT_OK(cloud.DisableKey(second.access_key_id));
  Json disabled;
  for (auto deadline = Clock::now() + 15s; Clock::now() < deadline;) {
    disabled = cloud.V3(second, "ecs", "DescribeRegions");
    if (!disabled.contains("ok")) break;
  }
  EXPECT_TRUE(V3Error(disabled, "Forbidden.AccessKeyDisabled", 403));
  EXPECT_TRUE(PopError(cloud.Pop(second, "ecs", "DescribeRegions"), "Forbidden.AccessKeyDisabled"));
  // The account's other key still works.
  EXPECT_TRUE(cloud.V3(*alice, "ecs", "DescribeRegions").contains("ok"));

  // A replayed request: the same signed URL twice.
  const std::string query =
      SignedV1Query(*alice, "GET", {{"Action", "DescribeRegions"}, {"Version", VersionOf("ecs")}});
  const std::string request =
      "GET /?" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  auto first = RawHttp(cloud.http_port(), request);
  ASSERT_OK(first.status());
  EXPECT_EQ(first->status, 200) << first->body;
  EXPECT_TRUE(first->json().contains("Regions")) << first->body;
  EXPECT_TRUE(HttpError(RawHttp(cloud.http_port(), request), "SignatureNonceUsed", 400));
  // A timestamp an hour old, and one an hour ahead.
  for (int64_t skew : {-3600, 3600}) {
    const std::string stale =
        SignedV1Query(*alice, "GET", {{"Action", "DescribeRegions"}, {"Version", VersionOf("ecs")}},
                      time(nullptr) + skew);
    EXPECT_TRUE(HttpError(
        RawHttp(cloud.http_port(),
                "GET /?" + stale + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
        "IllegalTimestamp", 400))
        << skew;
  }

  // Over HTTPS through both SDKs, with the certificate trusted.
  Json tls = cloud.Sdk(
      *alice, {{"sdk", "v3"}, {"product", "ecs"}, {"action", "DescribeRegions"}, {"https", true}});
  EXPECT_TRUE(tls.contains("ok")) << tls.dump();
  Json tls_wrong = cloud.Sdk(
      wrong, {{"sdk", "pop"}, {"product", "vpc"}, {"action", "DescribeVpcs"}, {"https", true}});
  EXPECT_TRUE(PopError(tls_wrong, "SignatureDoesNotMatch"));
}

TEST(SdkErrorsTest, Parameters) {
  ApiCloud cloud;
  auto alice = cloud.CreateTenant("alice");
  ASSERT_OK(alice.status());

  // Missing: a vSwitch without its VPC.
  Json missing = cloud.V3(*alice, "vpc", "CreateVSwitch",
                          WithRegion({{"zoneId", "z1"}, {"cidrBlock", "10.0.1.0/24"}}));
  EXPECT_TRUE(V3Error(missing, "MissingParameter", 400));
  EXPECT_NE(missing["error"].value("message", "").find("VpcId"), std::string::npos)
      << missing.dump();
  EXPECT_TRUE(PopError(
      cloud.Pop(*alice, "vpc", "CreateVSwitch", {{"ZoneId", "z1"}, {"CidrBlock", "10.0.1.0/24"}}),
      "MissingParameter"));

  // Malformed values.
  EXPECT_TRUE(V3Error(cloud.V3(*alice, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "bad"}})),
                      "InvalidCidrBlock.Malformed", 400));
  EXPECT_TRUE(PopError(cloud.Pop(*alice, "vpc", "DescribeVpcs", {{"PageSize", "abc"}}),
                       "InvalidParameter"));
  EXPECT_TRUE(
      HttpError(SignedGet(cloud.http_port(), *alice, "vpc", "DescribeVpcs", {{"PageSize", "abc"}}),
                "InvalidParameter", 400));

  // A parameter no action reads: named in the message.
  Json unknown = cloud.Pop(*alice, "vpc", "DescribeVpcs", {{"NoSuchField", "1"}});
  EXPECT_TRUE(PopError(unknown, "InvalidParameter"));
  EXPECT_NE(unknown["error"].value("message", "").find("NoSuchField"), std::string::npos)
      << unknown.dump();
  EXPECT_TRUE(
      HttpError(SignedGet(cloud.http_port(), *alice, "vpc", "DescribeVpcs", {{"NoSuchField", "1"}}),
                "InvalidParameter", 400));

  // An action neither product has, and a version neither is.
  EXPECT_TRUE(PopError(cloud.Pop(*alice, "ecs", "LaunchRockets"), "InvalidAction.NotFound"));
  EXPECT_TRUE(HttpError(SignedGet(cloud.http_port(), *alice, "ecs", "LaunchRockets"),
                        "InvalidAction.NotFound", 404));
  EXPECT_TRUE(HttpError(
      SignedGet(cloud.http_port(), *alice, "ecs", "DescribeRegions", {{"Version", "2099-01-01"}}),
      "NoSuchVersion", 400));

  // DryRun: checked, answered DryRunOperation, and nothing made.
  EXPECT_TRUE(V3Error(cloud.V3(*alice, "vpc", "CreateVpc",
                               WithRegion({{"cidrBlock", "10.0.0.0/16"}, {"dryRun", true}})),
                      "DryRunOperation", 400));
  EXPECT_TRUE(PopError(
      cloud.Pop(*alice, "vpc", "CreateVpc", {{"CidrBlock", "10.0.0.0/16"}, {"DryRun", "true"}}),
      "DryRunOperation"));
  // A DryRun of a bad call is the call's own error, not DryRunOperation.
  EXPECT_TRUE(V3Error(
      cloud.V3(*alice, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "bad"}, {"dryRun", true}})),
      "InvalidCidrBlock.Malformed", 400));
  EXPECT_EQ(VpcCount(cloud, *alice), 0u);

  // Another region.
  EXPECT_TRUE(V3Error(cloud.V3(*alice, "vpc", "DescribeVpcs", {{"regionId", "cn-hangzhou"}}),
                      "InvalidRegionId.NotFound", 404));
  EXPECT_TRUE(PopError(cloud.Pop(*alice, "ecs", "DescribeInstances", {{"RegionId", "us-west-1"}}),
                       "InvalidRegionId.NotFound"));
}

TEST(SdkErrorsTest, StateDependencyAndClientToken) {
  ApiCloud cloud;
  ASSERT_OK(cloud.EnablePublicSide());
  auto alice = cloud.CreateTenant("alice");
  ASSERT_OK(alice.status());

  Json vpc = cloud.V3(*alice, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "10.0.0.0/16"}}));
  ASSERT_TRUE(vpc.contains("ok")) << vpc.dump();
  const std::string vpc_id = vpc["ok"]["VpcId"];
  Json vsw =
      cloud.V3(*alice, "vpc", "CreateVSwitch",
               WithRegion({{"vpcId", vpc_id}, {"zoneId", "z1"}, {"cidrBlock", "10.0.1.0/24"}}));
  ASSERT_TRUE(vsw.contains("ok")) << vsw.dump();
  const std::string vswitch_id = vsw["ok"]["VSwitchId"];

  // A VPC with a vSwitch cannot go.
  EXPECT_TRUE(V3Error(cloud.V3(*alice, "vpc", "DeleteVpc", WithRegion({{"vpcId", vpc_id}})),
                      "DependencyViolation.VSwitch", 400));
  EXPECT_TRUE(PopError(cloud.Pop(*alice, "vpc", "DeleteVpc", {{"VpcId", vpc_id}}),
                       "DependencyViolation.VSwitch"));

  // An associated EIP cannot be released.
  Json group = cloud.V3(*alice, "ecs", "CreateSecurityGroup", WithRegion({{"vpcId", vpc_id}}));
  ASSERT_TRUE(group.contains("ok")) << group.dump();
  Json eni = cloud.V3(
      *alice, "ecs", "CreateNetworkInterface",
      WithRegion({{"vSwitchId", vswitch_id}, {"securityGroupId", group["ok"]["SecurityGroupId"]}}));
  ASSERT_TRUE(eni.contains("ok")) << eni.dump();
  Json eip = cloud.V3(*alice, "vpc", "AllocateEipAddress", kRegion);
  ASSERT_TRUE(eip.contains("ok")) << eip.dump();
  const std::string allocation = eip["ok"]["AllocationId"];
  Json associated = cloud.V3(*alice, "vpc", "AssociateEipAddress",
                             WithRegion({{"allocationId", allocation},
                                         {"instanceId", eni["ok"]["NetworkInterfaceId"]},
                                         {"instanceType", "NetworkInterface"}}));
  ASSERT_TRUE(associated.contains("ok")) << associated.dump();
  EXPECT_TRUE(V3Error(
      cloud.V3(*alice, "vpc", "ReleaseEipAddress", WithRegion({{"allocationId", allocation}})),
      "IncorrectEipStatus", 400));
  EXPECT_TRUE(
      PopError(cloud.Pop(*alice, "vpc", "ReleaseEipAddress", {{"AllocationId", allocation}}),
               "IncorrectEipStatus"));
  Json still =
      cloud.V3(*alice, "vpc", "DescribeEipAddresses", WithRegion({{"allocationId", allocation}}));
  ASSERT_TRUE(still.contains("ok")) << still.dump();
  EXPECT_EQ(still["ok"]["EipAddresses"]["EipAddress"][0].value("Status", ""), "InUse")
      << still.dump();

  // ClientToken: the same call twice is one VPC; other parameters are refused.
  ASSERT_EQ(VpcCount(cloud, *alice), 1u);
  const Json once = WithRegion({{"cidrBlock", "10.1.0.0/16"}, {"clientToken", "token-one"}});
  Json a = cloud.V3(*alice, "vpc", "CreateVpc", once);
  Json b = cloud.V3(*alice, "vpc", "CreateVpc", once);
  ASSERT_TRUE(a.contains("ok")) << a.dump();
  ASSERT_TRUE(b.contains("ok")) << b.dump();
  EXPECT_EQ(a["ok"]["VpcId"], b["ok"]["VpcId"]);
  // pop-core (V1, GET) with the same token and parameters: the same reply too.
  Json c = cloud.Pop(
      *alice, "vpc", "CreateVpc",
      {{"RegionId", "cn-tiangong"}, {"CidrBlock", "10.1.0.0/16"}, {"ClientToken", "token-one"}});
  ASSERT_TRUE(c.contains("ok")) << c.dump();
  EXPECT_EQ(c["ok"]["VpcId"], a["ok"]["VpcId"]);
  Json other = WithRegion({{"cidrBlock", "10.2.0.0/16"}, {"clientToken", "token-one"}});
  EXPECT_TRUE(
      V3Error(cloud.V3(*alice, "vpc", "CreateVpc", other), "IdempotentParameterMismatch", 400));
  EXPECT_EQ(VpcCount(cloud, *alice), 2u);
  // Tokens are per account: bob's same token makes bob's own VPC.
  auto bob = cloud.CreateTenant("bob");
  ASSERT_OK(bob.status());
  Json bobs = cloud.V3(*bob, "vpc", "CreateVpc", once);
  ASSERT_TRUE(bobs.contains("ok")) << bobs.dump();
  EXPECT_NE(bobs["ok"]["VpcId"], a["ok"]["VpcId"]);
  EXPECT_EQ(VpcCount(cloud, *bob), 1u);
}

TEST(SdkErrorsTest, Quota) {
  ApiCloud cloud(0, {"--quota-vpcs", "2"});
  auto alice = cloud.CreateTenant("alice");
  ASSERT_OK(alice.status());
  auto bob = cloud.CreateTenant("bob");
  ASSERT_OK(bob.status());
  for (const char* cidr : {"10.0.0.0/16", "10.1.0.0/16"}) {
    Json made = cloud.V3(*alice, "vpc", "CreateVpc", WithRegion({{"cidrBlock", cidr}}));
    ASSERT_TRUE(made.contains("ok")) << made.dump();
  }
  EXPECT_TRUE(
      V3Error(cloud.V3(*alice, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "10.2.0.0/16"}})),
              "QuotaExceeded.Vpc", 400));
  EXPECT_TRUE(PopError(cloud.Pop(*alice, "vpc", "CreateVpc", {{"CidrBlock", "10.2.0.0/16"}}),
                       "QuotaExceeded.Vpc"));
  EXPECT_EQ(VpcCount(cloud, *alice), 2u);
  // The quota is per account.
  EXPECT_TRUE(cloud.V3(*bob, "vpc", "CreateVpc", WithRegion({{"cidrBlock", "10.0.0.0/16"}}))
                  .contains("ok"));
}

TEST(SdkErrorsTest, Throttling) {
  ApiCloud cloud(0, {"--api-rate", "1", "--api-burst", "2"});
  auto alice = cloud.CreateTenant("alice");
  ASSERT_OK(alice.status());
  auto bob = cloud.CreateTenant("bob");
  ASSERT_OK(bob.status());
  // Five quick calls in one node process (a few ms apart): the burst of
  // two, then Throttling, through the V3 SDK and pop-core alike.
  const Json v3 = {{"sdk", "v3"}, {"product", "ecs"}, {"action", "DescribeRegions"}};
  const Json pop = {{"sdk", "pop"}, {"product", "ecs"}, {"action", "DescribeRegions"}};
  Json answers = cloud.Sdk(*alice, Json::array({v3, v3, pop, v3, v3}));
  ASSERT_TRUE(answers.is_array()) << answers.dump();
  ASSERT_EQ(answers.size(), 5u);
  EXPECT_TRUE(answers[0].contains("ok")) << answers.dump();
  EXPECT_TRUE(answers[1].contains("ok")) << answers.dump();
  EXPECT_TRUE(PopError(answers[2], "Throttling")) << answers.dump();
  EXPECT_TRUE(V3Error(answers[3], "Throttling", 400, "ThrottlingError")) << answers.dump();
  // The fifth may have found the token the 1/s rate puts back.
  if (!answers[4].contains("ok")) {
    EXPECT_TRUE(V3Error(answers[4], "Throttling", 400, "ThrottlingError")) << answers.dump();
  }
  // The raw reply: 400 and when to retry.
  Result<HttpReply> raw;
  for (int i = 0; i < 3; ++i) {
    raw = SignedGet(cloud.http_port(), *alice, "ecs", "DescribeRegions");
    if (raw.ok() && raw->status != 200) break;
  }
  EXPECT_TRUE(HttpError(raw, "Throttling", 400));
  if (raw.ok()) {
    EXPECT_TRUE(raw->headers.count("x-acs-retry-after")) << raw->body;
  }
  // Per AccessKey: bob is not throttled by alice's calls.
  EXPECT_TRUE(cloud.V3(*bob, "ecs", "DescribeRegions").contains("ok"));
  // The bucket refills: alice gets through again within a few seconds.
  Json again;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline;) {
    again = cloud.V3(*alice, "ecs", "DescribeRegions");
    if (again.contains("ok")) break;
  }
  EXPECT_TRUE(again.contains("ok")) << again.dump();
}

}  // namespace
}  // namespace tg::api::e2e
