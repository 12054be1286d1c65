// What goes on the wire: success bodies in JSON and Alibaba's XML layout,
// error bodies with their status, content types and headers.
#include "api/core/render.h"

#include <gtest/gtest.h>

namespace tg::api {
namespace {

TEST(RenderSuccessTest, JsonPutsRequestIdFirst) {
  Json body = Json::object();
  body["TotalCount"] = 2;
  body["RequestId"] = "stale";  // the rendered id wins
  body["Vpcs"] = Wrapped("Vpc", Json::array({Json{{"VpcId", "vpc-1"}}}));
  HttpResponse r = RenderSuccess("DescribeVpcs", "req-1", body, /*xml=*/false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json;charset=utf-8");
  EXPECT_EQ(r.body, R"({"RequestId":"req-1","TotalCount":2,"Vpcs":{"Vpc":[{"VpcId":"vpc-1"}]}})");
  EXPECT_EQ(r.headers.at("x-acs-request-id"), "req-1");
}

TEST(RenderSuccessTest, JsonSurvivesInvalidUtf8) {
  Json body = Json::object();
  body["Description"] = "bad \xff byte";
  HttpResponse r = RenderSuccess("X", "req", body, false);
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(Json::parse(r.body, nullptr, false).is_object()) << r.body;
}

TEST(RenderSuccessTest, XmlNestedListsAsRepeatedElements) {
  Json regions = Json::array();
  regions.push_back(Json{{"RegionId", "cn-1"}, {"LocalName", "One & <Two>"}});
  regions.push_back(Json{{"RegionId", "cn-2"}, {"LocalName", "\"quoted\" 'x'"}});
  Json body = Json::object();
  body["Regions"] = Wrapped("Region", regions);
  body["Count"] = 2;
  body["Ok"] = true;
  body["Nothing"] = nullptr;
  HttpResponse r = RenderSuccess("DescribeRegions", "req-2", body, /*xml=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/xml;charset=utf-8");
  EXPECT_EQ(r.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            "<DescribeRegionsResponse><RequestId>req-2</RequestId>"
            "<Regions>"
            "<Region><RegionId>cn-1</RegionId><LocalName>One &amp; &lt;Two&gt;</LocalName></Region>"
            "<Region><RegionId>cn-2</RegionId><LocalName>&quot;quoted&quot; "
            "&apos;x&apos;</LocalName></Region>"
            "</Regions>"
            "<Count>2</Count><Ok>true</Ok><Nothing></Nothing>"
            "</DescribeRegionsResponse>");
  EXPECT_EQ(r.headers.at("x-acs-request-id"), "req-2");
}

TEST(ToXmlTest, ArraysOfScalarsAndEmptyLists) {
  Json body = Json::object();
  body["InstanceIdSets"] = Wrapped("InstanceIdSet", Json::array({"i-1", "i-2"}));
  body["Empty"] = Wrapped("Item", Json::array());
  EXPECT_EQ(
      ToXml(body, "R"),
      "<R><InstanceIdSets><InstanceIdSet>i-1</InstanceIdSet><InstanceIdSet>i-2</InstanceIdSet>"
      "</InstanceIdSets><Empty></Empty></R>");
  EXPECT_EQ(ToXml(Json("a\x01"
                       "b"),
                  "S"),
            "<S>ab</S>");
}

TEST(RenderErrorTest, JsonBody) {
  ApiError e = NotFound("Instance", "i-x");
  HttpResponse r = RenderError(e, "req-3", "ecs.example.com", /*xml=*/false);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json;charset=utf-8");
  EXPECT_EQ(
      r.body,
      R"({"RequestId":"req-3","HostId":"ecs.example.com","Code":"InvalidInstanceId.NotFound",)"
      R"("Message":"The specified InstanceId \"i-x\" does not exist.","Recommend":""})");
  EXPECT_EQ(r.headers.at("x-acs-request-id"), "req-3");
  EXPECT_EQ(r.headers.count("x-acs-retry-after"), 0u);
}

TEST(RenderErrorTest, XmlBody) {
  HttpResponse r = RenderError(MissingParameter("VpcId"), "req-4", "vpc.example.com", /*xml=*/true);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "text/xml;charset=utf-8");
  EXPECT_EQ(r.body,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>req-4</RequestId>"
            "<HostId>vpc.example.com</HostId><Code>MissingParameter</Code>"
            "<Message>The input parameter &quot;VpcId&quot; that is mandatory for processing this "
            "request is not supplied.</Message><Recommend></Recommend></Error>");
}

TEST(RenderErrorTest, ThrottlingGetsRetryAfter) {
  HttpResponse r =
      RenderError(Error(400, "Throttling.User", "Request was denied due to user flow control."),
                  "req-5", "h", false);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.headers.at("x-acs-retry-after"), "1000");
}

TEST(RenderErrorTest, NonErrorStatusBecomes500) {
  HttpResponse r = RenderError(Error(200, "Weird", "m"), "req-6", "h", false);
  EXPECT_EQ(r.status, 500);
}

}  // namespace
}  // namespace tg::api
