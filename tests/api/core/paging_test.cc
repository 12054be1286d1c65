// Page mode and token mode of Describe* actions.
#include "api/core/paging.h"

#include <gtest/gtest.h>

namespace tg::api {
namespace {

Params Of(std::map<std::string, std::string> values) {
  return Params(std::move(values));
}

Json Items(int n) {
  Json items = Json::array();
  for (int i = 0; i < n; ++i) items.push_back(Json{{"Id", i}});
  return items;
}

PageRequest MustParse(Params& p, const PageOptions& options = {}) {
  auto r = ParsePage(p, options);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? r.value() : PageRequest{};
}

TEST(PagingTest, PageModeDefaults) {
  Params p;
  PageRequest page = MustParse(p);
  EXPECT_FALSE(page.token);
  EXPECT_EQ(page.page_number, 1u);
  EXPECT_EQ(page.size, 10u);
  EXPECT_EQ(page.offset, 0u);
}

TEST(PagingTest, PageModeFirstMiddleLast) {
  Json items = Items(25);
  for (auto [number, first, count] : {std::tuple{1, 0, 10}, {2, 10, 10}, {3, 20, 5}, {4, 0, 0}}) {
    Params p = Of({{"PageNumber", std::to_string(number)}, {"PageSize", "10"}});
    PageRequest page = MustParse(p);
    EXPECT_TRUE(p.Finish().ok());
    Json body = Json::object();
    AddPage(body, "Instances", "Instance", items, page);
    const Json& slice = body["Instances"]["Instance"];
    ASSERT_EQ(slice.size(), static_cast<size_t>(count)) << number;
    if (count > 0) {
      EXPECT_EQ(slice[0]["Id"], first);
    }
    EXPECT_EQ(body["TotalCount"], 25);
    EXPECT_EQ(body["PageNumber"], number);
    EXPECT_EQ(body["PageSize"], 10);
    EXPECT_TRUE(body["TotalCount"].is_number());
    EXPECT_FALSE(body.contains("NextToken"));
  }
}

TEST(PagingTest, PageSizeBounds) {
  PageOptions vpc;
  vpc.max_page_size = 50;
  Params ok = Of({{"PageSize", "50"}});
  EXPECT_EQ(MustParse(ok, vpc).size, 50u);
  for (const char* bad : {"51", "0", "-1", "ten"}) {
    Params p = Of({{"PageSize", bad}});
    auto r = ParsePage(p, vpc);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "InvalidParameter");
    EXPECT_NE(r.error().message.find("PageSize"), std::string::npos);
  }
  Params zero = Of({{"PageNumber", "0"}});
  EXPECT_FALSE(ParsePage(zero, vpc).ok());
}

TEST(PagingTest, TokenOnlyWhenTheActionPagesByToken) {
  Params p = Of({{"NextToken", "10"}});
  PageRequest page = MustParse(p);  // page-mode-only action
  EXPECT_FALSE(page.token);
  ASSERT_FALSE(p.Finish().ok());  // NextToken is no parameter of it
}

TEST(PagingTest, TokenModeWalksToTheEnd) {
  PageOptions options;
  options.token_mode = true;
  options.min_max_results = 10;
  Json items = Items(25);
  std::string token;
  std::vector<int> seen;
  for (int call = 0; call < 5; ++call) {
    std::map<std::string, std::string> values = {{"MaxResults", "10"}};
    if (!token.empty()) values["NextToken"] = token;
    Params p(values);
    PageRequest page = MustParse(p, options);
    EXPECT_TRUE(page.token);
    EXPECT_TRUE(p.Finish().ok());
    Json body = Json::object();
    AddPage(body, "Disks", "Disk", items, page);
    for (const auto& item : body["Disks"]["Disk"]) seen.push_back(item["Id"]);
    EXPECT_EQ(body["TotalCount"], 25);
    EXPECT_FALSE(body.contains("PageNumber"));
    token = body["NextToken"].get<std::string>();
    if (token.empty()) break;
  }
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.back(), 24);
}

TEST(PagingTest, MaxResultsIsClamped) {
  PageOptions options;
  options.token_mode = true;
  options.min_max_results = 10;
  Params small = Of({{"MaxResults", "3"}});
  EXPECT_EQ(MustParse(small, options).size, 10u);
  Params big = Of({{"MaxResults", "500"}});
  EXPECT_EQ(MustParse(big, options).size, 100u);
  Params garbage = Of({{"MaxResults", "x"}});
  EXPECT_FALSE(ParsePage(garbage, options).ok());
  options.max_results_name = "MaxResult";
  Params route = Of({{"MaxResult", "20"}});
  PageRequest page = MustParse(route, options);
  EXPECT_TRUE(page.token);
  EXPECT_EQ(page.size, 20u);
}

TEST(PagingTest, BadTokenIsRefused) {
  PageOptions options;
  options.token_mode = true;
  for (const char* bad : {"abc", "-1", "1.5", "99999999999999999999"}) {
    Params p = Of({{"NextToken", bad}});
    auto r = ParsePage(p, options);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "InvalidParameter");
    EXPECT_NE(r.error().message.find("NextToken"), std::string::npos);
  }
}

TEST(PagingTest, TokenActionCalledInPageMode) {
  PageOptions options;
  options.token_mode = true;
  Params p = Of({{"PageNumber", "2"}, {"PageSize", "5"}, {"NextToken", ""}});
  PageRequest page = MustParse(p, options);
  EXPECT_FALSE(page.token);
  EXPECT_EQ(page.offset, 5u);
  EXPECT_TRUE(p.Finish().ok());
}

}  // namespace
}  // namespace tg::api
