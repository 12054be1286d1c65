// Tags (ECS's TagResources, UntagResources and ListTagResources, and VPC's
// actions of the same names) and DescribeTasks against a real etcd and the
// real registry (no chunkservers): tags land in the ownership records and
// show in Describe*; each error code; paging; tenancy.
#include <gtest/gtest.h>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "network/model/address.h"

namespace tg::api::testing {
namespace {

class TagActionsTest : public ApiTest {
 protected:
  Task<void> Own(ResourceRecord r) {
    Status s = co_await registry_.Create(r);
    EXPECT_TRUE(s.ok()) << s;
  }
  ResourceRecord Record(std::string id, std::string_view kind, const Account& account,
                        int64_t created_at = 0) {
    ResourceRecord r;
    r.id = std::move(id);
    r.kind = std::string(kind);
    r.account = account.id;
    r.created_at = created_at ? created_at : time(nullptr);
    return r;
  }
};

TEST_F(TagActionsTest, TagsOnEcsAndVpcResources) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto cidr = network::ParseCidr("10.0.0.0/16");
    auto vpc = co_await vpcs_.CreateVpc("net", *cidr);
    CO_ASSERT_TRUE(vpc.ok());
    co_await Own(Record(vpc->id, kind::kVpc, a_));
    auto made = co_await ECS("CreateSecurityGroup", {{"VpcId", vpc->id}});
    CO_ASSERT_API_OK(made);
    const std::string sg = (*made)["SecurityGroupId"];

    // Errors first.
    EXPECT_EQ(CodeOf(co_await ECS("TagResources", {{"ResourceId.1", sg}, {"Tag.1.Key", "env"}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS(
                  "TagResources",
                  {{"ResourceType", "bucket"}, {"ResourceId.1", sg}, {"Tag.1.Key", "env"}})),
              "InvalidResourceType.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS(
                  "TagResources",
                  {{"ResourceType", "VPC"}, {"ResourceId.1", vpc->id}, {"Tag.1.Key", "env"}})),
              "InvalidResourceType.NotFound");  // VPC's type, not ECS's
    EXPECT_EQ(CodeOf(co_await ECS("TagResources",
                                  {{"ResourceType", "securitygroup"}, {"Tag.1.Key", "env"}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("TagResources",
                                  {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}})),
              "MissingParameter");
    EXPECT_EQ(CodeOf(co_await ECS("TagResources", {{"ResourceType", "securitygroup"},
                                                   {"ResourceId.1", sg},
                                                   {"Tag.1.Key", "aliyun:x"}})),
              "InvalidParameter");
    auto missing = co_await ECS(
        "TagResources",
        {{"ResourceType", "securitygroup"}, {"ResourceId.1", "sg-nothere"}, {"Tag.1.Key", "env"}});
    EXPECT_EQ(CodeOf(missing), "InvalidResourceId.NotFound");
    if (!missing.ok()) {
      EXPECT_EQ(missing.error().http_status, 404);
    }
    // The right id with the wrong type is not found either.
    EXPECT_EQ(CodeOf(co_await ECS(
                  "TagResources",
                  {{"ResourceType", "instance"}, {"ResourceId.1", sg}, {"Tag.1.Key", "env"}})),
              "InvalidResourceId.NotFound");
    // b cannot tag a's group.
    EXPECT_EQ(
        CodeOf(co_await ECS(
            "TagResources",
            {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}, {"Tag.1.Key", "env"}}, &b_)),
        "InvalidResourceId.NotFound");

    {
      auto step_1 = co_await ECS("TagResources", {{"ResourceType", "securitygroup"},
                                                  {"ResourceId.1", sg},
                                                  {"Tag.1.Key", "env"},
                                                  {"Tag.1.Value", "prod"},
                                                  {"Tag.2.Key", "team"},
                                                  {"Tag.2.Value", "web"},
                                                  {"Tag.3.Key", "empty"}});
      CO_ASSERT_API_OK(step_1);
    };
    // A second call overwrites values and adds keys.
    {
      auto step_2 = co_await ECS("TagResources", {{"ResourceType", "SecurityGroup"},
                                                  {"ResourceId.1", sg},
                                                  {"Tag.1.Key", "env"},
                                                  {"Tag.1.Value", "staging"}});
      CO_ASSERT_API_OK(step_2);
    };
    auto record = co_await registry_.Get(a_.id, sg);
    CO_ASSERT_TRUE(record.ok() && record->has_value());
    const std::map<std::string, std::string> want{
        {"empty", ""}, {"env", "staging"}, {"team", "web"}};
    EXPECT_EQ((*record)->tags, want);
    auto described = co_await ECS("DescribeSecurityGroups", {{"SecurityGroupId", sg}});
    CO_ASSERT_API_OK(described);
    EXPECT_EQ((*described)["SecurityGroups"]["SecurityGroup"][0]["Tags"]["Tag"].size(), 3u);

    auto listed =
        co_await ECS("ListTagResources", {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}});
    CO_ASSERT_API_OK(listed);
    const Json& items = (*listed)["TagResources"]["TagResource"];
    CO_ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[1]["ResourceId"], sg);
    EXPECT_EQ(items[1]["ResourceType"], "securitygroup");
    EXPECT_EQ(items[1]["TagKey"], "env");
    EXPECT_EQ(items[1]["TagValue"], "staging");
    EXPECT_EQ((*listed)["NextToken"], "");
    // By tag, across the type; paging by token.
    auto by_tag = co_await ECS(
        "ListTagResources",
        {{"ResourceType", "securitygroup"}, {"Tag.1.Key", "team"}, {"Tag.1.Value", "web"}});
    CO_ASSERT_API_OK(by_tag);
    EXPECT_EQ((*by_tag)["TagResources"]["TagResource"].size(), 3u);
    auto other_tag = co_await ECS(
        "ListTagResources",
        {{"ResourceType", "securitygroup"}, {"Tag.1.Key", "team"}, {"Tag.1.Value", "db"}});
    CO_ASSERT_API_OK(other_tag);
    EXPECT_EQ((*other_tag)["TagResources"]["TagResource"].size(), 0u);
    auto first =
        co_await ECS("ListTagResources", {{"ResourceType", "securitygroup"}, {"MaxResults", "2"}});
    CO_ASSERT_API_OK(first);
    EXPECT_EQ((*first)["TagResources"]["TagResource"].size(), 2u);
    EXPECT_EQ((*first)["NextToken"], "2");
    auto second =
        co_await ECS("ListTagResources", {{"ResourceType", "securitygroup"}, {"NextToken", "2"}});
    CO_ASSERT_API_OK(second);
    EXPECT_EQ((*second)["TagResources"]["TagResource"].size(), 1u);
    EXPECT_EQ((*second)["NextToken"], "");
    EXPECT_EQ(CodeOf(co_await ECS("ListTagResources",
                                  {{"ResourceType", "securitygroup"}, {"NextToken", "x"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await ECS("ListTagResources", {})), "MissingParameter");
    // b lists none of a's.
    auto b_list = co_await ECS("ListTagResources", {{"ResourceType", "securitygroup"}}, &b_);
    CO_ASSERT_API_OK(b_list);
    EXPECT_EQ((*b_list)["TagResources"]["TagResource"].size(), 0u);
    auto unknown = co_await ECS("ListTagResources",
                                {{"ResourceType", "securitygroup"}, {"ResourceId.1", "sg-no"}});
    CO_ASSERT_API_OK(unknown);
    EXPECT_EQ((*unknown)["TagResources"]["TagResource"].size(), 0u);

    // At most 20 tags on a resource.
    Params many;
    many["ResourceType"] = "securitygroup";
    many["ResourceId.1"] = sg;
    for (int i = 1; i <= 18; ++i)
      many["Tag." + std::to_string(i) + ".Key"] = "k" + std::to_string(i);
    EXPECT_EQ(CodeOf(co_await ECS("TagResources", many)), "InvalidParameter");

    // UntagResources: by key; neither key nor All changes nothing; All.
    EXPECT_EQ(
        CodeOf(co_await ECS(
            "UntagResources",
            {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}, {"TagKey.1", "env"}}, &b_)),
        "InvalidResourceId.NotFound");
    EXPECT_EQ(CodeOf(co_await ECS(
                  "UntagResources",
                  {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}, {"All", "perhaps"}})),
              "InvalidParameter");
    {
      auto step_3 = co_await ECS("UntagResources", {{"ResourceType", "securitygroup"},
                                                    {"ResourceId.1", sg},
                                                    {"TagKey.1", "env"},
                                                    {"TagKey.2", "absent"}});
      CO_ASSERT_API_OK(step_3);
    };
    {
      auto step_4 =
          co_await ECS("UntagResources", {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}});
      CO_ASSERT_API_OK(step_4);
    };
    record = co_await registry_.Get(a_.id, sg);
    CO_ASSERT_TRUE(record.ok() && record->has_value());
    EXPECT_EQ((*record)->tags.size(), 2u);
    {
      auto step_5 =
          co_await ECS("UntagResources",
                       {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}, {"All", "true"}});
      CO_ASSERT_API_OK(step_5);
    };
    record = co_await registry_.Get(a_.id, sg);
    CO_ASSERT_TRUE(record.ok() && record->has_value());
    EXPECT_TRUE((*record)->tags.empty());

    // VPC's TagResources: its own types.
    EXPECT_EQ(CodeOf(co_await VPC(
                  "TagResources",
                  {{"ResourceType", "securitygroup"}, {"ResourceId.1", sg}, {"Tag.1.Key", "env"}})),
              "InvalidResourceType.NotFound");
    {
      auto step_6 = co_await VPC("TagResources", {{"ResourceType", "VPC"},
                                                  {"ResourceId.1", vpc->id},
                                                  {"Tag.1.Key", "env"},
                                                  {"Tag.1.Value", "prod"}});
      CO_ASSERT_API_OK(step_6);
    };
    auto vpc_tags =
        co_await VPC("ListTagResources", {{"ResourceType", "vpc"}, {"ResourceId.1", vpc->id}});
    CO_ASSERT_API_OK(vpc_tags);
    const Json& v = (*vpc_tags)["TagResources"]["TagResource"];
    CO_ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0]["ResourceType"], "VPC");
    EXPECT_EQ(v[0]["TagKey"], "env");
    EXPECT_EQ(v[0]["TagValue"], "prod");
    EXPECT_EQ(CodeOf(co_await VPC(
                  "TagResources",
                  {{"ResourceType", "VPC"}, {"ResourceId.1", vpc->id}, {"Tag.1.Key", "env"}}, &b_)),
              "InvalidResourceId.NotFound");
    {
      auto step_7 =
          co_await VPC("UntagResources",
                       {{"ResourceType", "VPC"}, {"ResourceId.1", vpc->id}, {"TagKey.1", "env"}});
      CO_ASSERT_API_OK(step_7);
    };
    auto vpc_after = co_await VPC("ListTagResources", {{"ResourceType", "VPC"}});
    CO_ASSERT_API_OK(vpc_after);
    EXPECT_EQ((*vpc_after)["TagResources"]["TagResource"].size(), 0u);
  }());
}

TEST_F(TagActionsTest, DescribeTasks) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    const int64_t t0 = 1'800'000'000;
    ResourceRecord done = Record("t-done0000000000000001", kind::kTask, a_, t0);
    done.extra["action"] = "ImportImage";
    done.extra["status"] = "Finished";
    done.extra["resource"] = "m-aaaa";
    done.extra["finished_at"] = t0 + 120;
    co_await Own(done);
    ResourceRecord running = Record("t-running000000000002", kind::kTask, a_, t0 + 60);
    running.extra["action"] = "ImportImage";
    running.extra["status"] = "Processing";
    running.extra["resource"] = "m-bbbb";
    running.extra["finished_at"] = 0;
    co_await Own(running);

    auto all = co_await ECS("DescribeTasks", {});
    CO_ASSERT_API_OK(all);
    EXPECT_EQ((*all)["RegionId"], "cn-tiangong");
    EXPECT_EQ((*all)["TotalCount"], 2);
    EXPECT_EQ((*all)["PageNumber"], 1);
    EXPECT_EQ((*all)["PageSize"], 10);
    const Json& tasks = (*all)["TaskSet"]["Task"];
    CO_ASSERT_EQ(tasks.size(), 2u);
    // Newest first.
    EXPECT_EQ(tasks[0]["TaskId"], running.id);
    EXPECT_EQ(tasks[0]["TaskStatus"], "Processing");
    EXPECT_EQ(tasks[0]["FinishedTime"], "");
    EXPECT_EQ(tasks[1]["TaskId"], done.id);
    EXPECT_EQ(tasks[1]["TaskAction"], "ImportImage");
    EXPECT_EQ(tasks[1]["TaskStatus"], "Finished");
    EXPECT_EQ(tasks[1]["ResourceId"], "m-aaaa");
    EXPECT_EQ(tasks[1]["CreationTime"], IsoMinutes(t0));
    EXPECT_EQ(tasks[1]["FinishedTime"], IsoMinutes(t0 + 120));

    auto by_id = co_await ECS("DescribeTasks", {{"TaskIds", done.id + ",t-unknown"}});
    CO_ASSERT_API_OK(by_id);
    EXPECT_EQ((*by_id)["TaskSet"]["Task"].size(), 1u);
    auto by_status = co_await ECS("DescribeTasks",
                                  {{"TaskStatus", "Processing"}, {"TaskAction", "ImportImage"}});
    CO_ASSERT_API_OK(by_status);
    CO_ASSERT_EQ((*by_status)["TaskSet"]["Task"].size(), 1u);
    EXPECT_EQ((*by_status)["TaskSet"]["Task"][0]["TaskId"], running.id);
    auto by_resource = co_await ECS("DescribeTasks", {{"ResourceIds", "m-aaaa"}});
    CO_ASSERT_API_OK(by_resource);
    EXPECT_EQ((*by_resource)["TaskSet"]["Task"].size(), 1u);
    auto page2 = co_await ECS("DescribeTasks", {{"PageSize", "1"}, {"PageNumber", "2"}});
    CO_ASSERT_API_OK(page2);
    CO_ASSERT_EQ((*page2)["TaskSet"]["Task"].size(), 1u);
    EXPECT_EQ((*page2)["TaskSet"]["Task"][0]["TaskId"], done.id);
    EXPECT_EQ(CodeOf(co_await ECS("DescribeTasks", {{"TaskStatus", "Sleeping"}})),
              "InvalidParameter");
    EXPECT_EQ(CodeOf(co_await ECS("DescribeTasks", {{"PageSize", "101"}})), "InvalidParameter");
    auto b_tasks = co_await ECS("DescribeTasks", {}, &b_);
    CO_ASSERT_API_OK(b_tasks);
    EXPECT_EQ((*b_tasks)["TotalCount"], 0);
  }());
}

}  // namespace
}  // namespace tg::api::testing
