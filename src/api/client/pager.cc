#include "api/client/pager.h"

namespace tg::api {

namespace {

using json = nlohmann::json;

json* At(json& reply, const std::string& path) {
  const size_t dot = path.find('.');
  json* outer = &reply[path.substr(0, dot)];
  return &(*outer)[path.substr(dot + 1)];
}

}  // namespace

Result<std::string> FindListPath(const json& reply) {
  if (!reply.is_object()) return InvalidArgument("the reply is not a JSON object");
  for (const auto& [key, value] : reply.items()) {
    if (!value.is_object() || value.size() != 1) continue;
    const auto inner = value.begin();
    if (inner->is_array()) return key + "." + inner.key();
  }
  return InvalidArgument("the reply has no list to page through");
}

Result<json> ReadAllPages(const std::function<Result<json>(int)>& page) {
  TG_ASSIGN_OR_RETURN(json merged, page(1));
  TG_ASSIGN_OR_RETURN(std::string path, FindListPath(merged));
  if (!merged.contains("TotalCount") || !merged["TotalCount"].is_number_integer())
    return InvalidArgument("the reply has no TotalCount: the action does not page");
  const int64_t total = merged["TotalCount"].get<int64_t>();
  json* items = At(merged, path);
  // Bounded: a server that keeps answering pages cannot loop us forever.
  for (int n = 2; static_cast<int64_t>(items->size()) < total && n <= 100000; ++n) {
    TG_ASSIGN_OR_RETURN(json next, page(n));
    json* more = At(next, path);
    if (!more->is_array() || more->empty()) break;
    for (auto& item : *more) items->push_back(std::move(item));
  }
  merged.erase("PageNumber");
  merged["PageSize"] = items->size();
  return merged;
}

}  // namespace tg::api
