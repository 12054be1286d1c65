// `--pager` of `tiangong api`, as the aliyun CLI does it: a Describe* action
// in page mode is called for PageNumber 1, 2, ... until every item of
// TotalCount is read, and the pages' lists are merged into one reply.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"

namespace tg::api {

// The path of the reply's list ({"Instances":{"Instance":[...]}} →
// "Instances.Instance"): the first object member holding one array.
Result<std::string> FindListPath(const nlohmann::json& reply);

// Calls `page(n)` (the reply of page n as JSON, or an error) for n = 1, 2,
// ... and merges: the first reply with the list holding every page's items.
// Stops at TotalCount items, or at an empty page.
Result<nlohmann::json> ReadAllPages(const std::function<Result<nlohmann::json>(int)>& page);

}  // namespace tg::api
