#include "api/core/paging.h"

#include <algorithm>
#include <limits>

namespace tg::api {
namespace {

// Pages beyond this are refused rather than multiplied into an overflow.
constexpr int64_t kMaxPageNumber = 1'000'000'000;

// Our tokens are the decimal offset of the next item.
std::optional<size_t> ParseToken(std::string_view token) {
  if (token.empty() || token.size() > 15) return std::nullopt;
  size_t n = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

}  // namespace

ApiResult<PageRequest> ParsePage(Params& params, const PageOptions& options) {
  PageRequest page;
  bool token_call = options.token_mode &&
                    ((params.Has("NextToken") && !params.values().at("NextToken").empty()) ||
                     params.Has(options.max_results_name));
  if (token_call) {
    page.token = true;
    // Alibaba clamps MaxResults into its range rather than refusing it.
    TG_API_ASSIGN_OR_RETURN(auto max_results, params.Int(options.max_results_name, 1,
                                                         std::numeric_limits<int32_t>::max()));
    int64_t size = max_results ? *max_results : static_cast<int64_t>(options.default_page_size);
    size = std::clamp<int64_t>(size, static_cast<int64_t>(options.min_max_results),
                               static_cast<int64_t>(options.max_max_results));
    page.size = static_cast<size_t>(size);
    if (auto token = params.Optional("NextToken")) {
      auto offset = ParseToken(*token);
      if (!offset) return InvalidParameter("NextToken", "it is not a token this service issued");
      page.offset = *offset;
    }
    page.page_number = page.offset / page.size + 1;
    // A client may send page fields along; the token decides.
    params.Ignore("PageNumber");
    params.Ignore("PageSize");
    return page;
  }
  if (options.token_mode) params.Ignore("NextToken");  // given empty: the first page
  TG_API_ASSIGN_OR_RETURN(auto number, params.Int("PageNumber", 1, kMaxPageNumber));
  TG_API_ASSIGN_OR_RETURN(auto size,
                          params.Int("PageSize", 1, static_cast<int64_t>(options.max_page_size)));
  page.page_number = number ? static_cast<size_t>(*number) : 1;
  page.size = size ? static_cast<size_t>(*size) : options.default_page_size;
  page.offset = (page.page_number - 1) * page.size;
  return page;
}

void AddPage(Json& body, std::string_view outer, std::string_view inner, const Json& items,
             const PageRequest& page) {
  AddPage(body, outer, inner, items.is_array() ? items.size() : 0, page,
          [&](size_t i) { return items[i]; });
}

void AddPage(Json& body, std::string_view outer, std::string_view inner, size_t total,
             const PageRequest& page, const std::function<Json(size_t)>& render) {
  size_t begin = std::min(page.offset, total);
  size_t end = begin + std::min(page.size, total - begin);
  Json slice = Json::array();
  for (size_t i = begin; i < end; ++i) slice.push_back(render(i));
  if (!body.is_object()) body = Json::object();
  // Room for the four members first: growing would copy the page, deeply.
  body.get_ref<Json::object_t&>().reserve(body.size() + 4);
  body[std::string(outer)] = Wrapped(inner, std::move(slice));
  if (page.token) {
    body["NextToken"] = end < total ? std::to_string(end) : std::string();
    body["TotalCount"] = total;
  } else {
    body["TotalCount"] = total;
    body["PageNumber"] = page.page_number;
    body["PageSize"] = page.size;
  }
}

}  // namespace tg::api
