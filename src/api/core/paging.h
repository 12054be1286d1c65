// The two paging modes of Describe* actions: page mode (PageNumber from 1,
// PageSize 1..max_page_size, default 10; the reply carries TotalCount,
// PageNumber, PageSize as numbers, which the aliyun CLI's --pager needs)
// and token mode (MaxResults, NextToken in and out; "" means the last
// page). A call that gives NextToken or MaxResults is in token mode.
// Tokens are the offset, opaque to clients.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "api/core/error.h"
#include "api/core/json.h"
#include "api/core/params.h"

namespace tg::api {

struct PageOptions {
  size_t default_page_size = 10;
  size_t max_page_size = 100;
  bool token_mode = false;                      // the action also pages by token
  std::string max_results_name = "MaxResults";  // DescribeRouteEntryList: "MaxResult"
  size_t min_max_results = 1, max_max_results = 100;
};

struct PageRequest {
  bool token = false;
  size_t offset = 0;
  size_t size = 10;
  size_t page_number = 1;
};

ApiResult<PageRequest> ParsePage(Params& params, const PageOptions& options = {});

// Keeps the page's slice of `items` under `body[outer][inner]` and adds the
// paging fields (TotalCount, PageNumber, PageSize; or NextToken, and
// TotalCount too in token mode as ECS does).
void AddPage(Json& body, std::string_view outer, std::string_view inner, const Json& items,
             const PageRequest& page);
// The same for `total` items of which only the page's are rendered, item i
// by render(i): a listing need not render what it does not return.
void AddPage(Json& body, std::string_view outer, std::string_view inner, size_t total,
             const PageRequest& page, const std::function<Json(size_t)>& render);

}  // namespace tg::api
