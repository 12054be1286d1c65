// Reading an RPC call out of an HTTP request: percent-decoding, query and
// form parameters, the action and version, the product and the format.
#include "api/core/request.h"

#include <gtest/gtest.h>

namespace tg::api {
namespace {

HttpRequest Get(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

HttpRequest PostForm(std::string target, std::string body,
                     std::string type = "application/x-www-form-urlencoded") {
  HttpRequest r;
  r.method = "POST";
  r.target = std::move(target);
  r.headers["content-type"] = std::move(type);
  r.body = std::move(body);
  return r;
}

TEST(PercentDecodeTest, Decodes) {
  EXPECT_EQ(PercentDecode("a+b").value(), "a b");
  EXPECT_EQ(PercentDecode("a%20b%2Bc").value(), "a b+c");
  EXPECT_EQ(PercentDecode("%5B%22i-1%22%5d").value(), "[\"i-1\"]");
  EXPECT_EQ(PercentDecode("").value(), "");
  EXPECT_EQ(PercentDecode("%00").value(), std::string(1, '\0'));
  EXPECT_EQ(PercentDecode("%FF").value(), "\xff");
  EXPECT_EQ(PercentDecode("*~'()!").value(), "*~'()!");
}

TEST(PercentDecodeTest, RefusesBadEscapes) {
  for (const char* bad : {"%", "%2", "a%", "%G0", "%0G", "%%", "abc%2"}) {
    auto r = PercentDecode(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "InvalidParameter");
    EXPECT_EQ(r.error().http_status, 400);
  }
}

TEST(ParseQueryStringTest, PairsAndEdgeCases) {
  std::map<std::string, std::string> out;
  ASSERT_TRUE(ParseQueryString("a=1&b=&c&&d=x%3Dy=z", out).ok());
  EXPECT_EQ(out.at("a"), "1");
  EXPECT_EQ(out.at("b"), "");
  EXPECT_EQ(out.at("c"), "");
  EXPECT_EQ(out.at("d"), "x=y=z");
  EXPECT_EQ(out.size(), 4u);
}

TEST(ParseQueryStringTest, RefusesRepeatsNamelessAndOversized) {
  std::map<std::string, std::string> out;
  auto twice = ParseQueryString("a=1&a=2", out);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "InvalidParameter");
  EXPECT_NE(twice.error().message.find("\"a\""), std::string::npos);
  out.clear();
  EXPECT_FALSE(ParseQueryString("=1", out).ok());
  out.clear();
  EXPECT_FALSE(ParseQueryString(std::string(257, 'n') + "=1", out).ok());
  out.clear();
  EXPECT_TRUE(ParseQueryString(std::string(256, 'n') + "=1", out).ok());
  out.clear();
  EXPECT_FALSE(ParseQueryString("v=" + std::string(128 * 1024 + 1, 'v'), out).ok());
  out.clear();
  EXPECT_TRUE(ParseQueryString("v=" + std::string(128 * 1024, 'v'), out).ok());
  std::string many;
  for (int i = 0; i < 1001; ++i) many += fmt::format("p{}=1&", i);
  out.clear();
  EXPECT_FALSE(ParseQueryString(many, out).ok());
  out.clear();
  EXPECT_FALSE(ParseQueryString("a=%zz", out).ok());
}

TEST(ReadRpcCallTest, QueryStringCall) {
  auto call =
      ReadRpcCall(Get("/?Action=DescribeInstances&Version=2014-05-26&RegionId=cn-1"
                      "&InstanceIds=%5B%22i-1%22%5D&Format=JSON"));
  ASSERT_TRUE(call.ok()) << call.error().message;
  EXPECT_EQ(call->action, "DescribeInstances");
  EXPECT_EQ(call->version, "2014-05-26");
  EXPECT_EQ(call->product, Product::kEcs);
  EXPECT_EQ(call->path, "/");
  EXPECT_FALSE(call->xml);
  EXPECT_EQ(call->query.at("InstanceIds"), "[\"i-1\"]");
  EXPECT_EQ(call->params.values().at("RegionId"), "cn-1");
  EXPECT_EQ(ProductName(call->product), "Ecs");
}

TEST(ReadRpcCallTest, FormBodyMergedWithQuery) {
  auto call =
      ReadRpcCall(PostForm("/?Action=CreateVpc", "Version=2016-04-28&CidrBlock=10.0.0.0%2F8",
                           "Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
  ASSERT_TRUE(call.ok()) << call.error().message;
  EXPECT_EQ(call->product, Product::kVpc);
  EXPECT_EQ(ProductName(call->product), "Vpc");
  EXPECT_EQ(call->params.values().at("CidrBlock"), "10.0.0.0/8");
  // The query map holds the query's parameters only.
  EXPECT_EQ(call->query.count("CidrBlock"), 0u);
  EXPECT_EQ(call->query.at("Action"), "CreateVpc");
}

TEST(ReadRpcCallTest, BodyWithoutFormTypeIsNotParameters) {
  auto call = ReadRpcCall(PostForm("/?Action=CreateVpc&Version=2016-04-28", "CidrBlock=10.0.0.0/8",
                                   "application/json"));
  ASSERT_TRUE(call.ok());
  EXPECT_FALSE(call->params.Has("CidrBlock"));
  HttpRequest no_type = PostForm("/?Action=CreateVpc&Version=2016-04-28", "CidrBlock=x");
  no_type.headers.clear();
  auto untyped = ReadRpcCall(no_type);
  ASSERT_TRUE(untyped.ok());
  EXPECT_FALSE(untyped->params.Has("CidrBlock"));
}

TEST(ReadRpcCallTest, NameInQueryAndFormIsRefused) {
  auto call = ReadRpcCall(PostForm("/?Action=CreateVpc&Version=2016-04-28&VpcName=a", "VpcName=b"));
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.error().code, "InvalidParameter");
  EXPECT_NE(call.error().message.find("VpcName"), std::string::npos);
  auto twice = ReadRpcCall(Get("/?Action=CreateVpc&Version=2016-04-28&VpcName=a&VpcName=a"));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, "InvalidParameter");
}

TEST(ReadRpcCallTest, ActionAndVersionFromHeaders) {
  HttpRequest r = Get("/?RegionId=cn-1&VpcId=vpc-1");
  r.method = "POST";
  r.headers["x-acs-action"] = "DescribeVpcs";
  r.headers["x-acs-version"] = "2016-04-28";
  auto call = ReadRpcCall(r);
  ASSERT_TRUE(call.ok()) << call.error().message;
  EXPECT_EQ(call->action, "DescribeVpcs");
  EXPECT_EQ(call->product, Product::kVpc);
  // The version alone picks the product, even for an action both have.
  r.headers["x-acs-action"] = "DescribeRegions";
  r.headers["x-acs-version"] = "2014-05-26";
  r.headers["host"] = "vpc.example.com";
  EXPECT_EQ(ReadRpcCall(r)->product, Product::kEcs);
}

TEST(ReadRpcCallTest, MissingActionOrVersion) {
  auto no_action = ReadRpcCall(Get("/?Version=2014-05-26"));
  ASSERT_FALSE(no_action.ok());
  EXPECT_EQ(no_action.error().code, "MissingParameter");
  EXPECT_NE(no_action.error().message.find("\"Action\""), std::string::npos);
  auto empty_action = ReadRpcCall(Get("/?Action=&Version=2014-05-26"));
  ASSERT_FALSE(empty_action.ok());
  EXPECT_EQ(empty_action.error().code, "MissingParameter");
  auto no_version = ReadRpcCall(Get("/?Action=DescribeRegions"));
  ASSERT_FALSE(no_version.ok());
  EXPECT_EQ(no_version.error().code, "MissingParameter");
  EXPECT_NE(no_version.error().message.find("\"Version\""), std::string::npos);
  auto odd_action = ReadRpcCall(Get("/?Action=Describe%20Regions&Version=2014-05-26"));
  ASSERT_FALSE(odd_action.ok());
  EXPECT_EQ(odd_action.error().code, "InvalidParameter");
}

TEST(ReadRpcCallTest, UnknownVersionIsNoSuchVersion) {
  auto call = ReadRpcCall(Get("/?Action=DescribeRegions&Version=2099-01-01"));
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.error().http_status, 400);
  EXPECT_EQ(call.error().code, "NoSuchVersion");
  EXPECT_EQ(call.error().message, "Specified parameter Version is not valid.");
}

TEST(ReadRpcCallTest, Format) {
  EXPECT_TRUE(ReadRpcCall(Get("/?Action=A&Version=2014-05-26&Format=XML"))->xml);
  EXPECT_TRUE(ReadRpcCall(Get("/?Action=A&Version=2014-05-26&Format=xml"))->xml);
  EXPECT_FALSE(ReadRpcCall(Get("/?Action=A&Version=2014-05-26&Format=json"))->xml);
  EXPECT_FALSE(ReadRpcCall(Get("/?Action=A&Version=2014-05-26"))->xml);
  auto bad = ReadRpcCall(Get("/?Action=A&Version=2014-05-26&Format=YAML"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "InvalidParameter");
  EXPECT_NE(bad.error().message.find("Format"), std::string::npos);
}

TEST(ReadRpcCallTest, PathAndMalformedQuery) {
  auto call = ReadRpcCall(Get("/api?Action=A&Version=2014-05-26"));
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(call->path, "/api");
  auto bare = ReadRpcCall(Get("?Action=A&Version=2014-05-26"));
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->path, "/");
  auto bad = ReadRpcCall(Get("/?Action=A&Version=2014-05-26&X=%G1"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "InvalidParameter");
  auto bad_form = ReadRpcCall(PostForm("/?Action=A&Version=2014-05-26", "X=%"));
  ASSERT_FALSE(bad_form.ok());
}

}  // namespace
}  // namespace tg::api
