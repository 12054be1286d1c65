#include "api/service/handler_util.h"

namespace tg::api {

ResourceRecord NewResource(const CallContext& ctx, std::string id, std::string_view kind,
                           std::string name, std::string description) {
  ResourceRecord r;
  r.id = std::move(id);
  r.kind = std::string(kind);
  r.account = ctx.account.id;
  r.created_at = ctx.now;
  r.name = std::move(name);
  r.description = std::move(description);
  return r;
}

Task<ApiStatus> RecordOwnership(CallContext& ctx, ResourceRecord record) {
  Status s = co_await ctx.services.registry.Create(std::move(record));
  if (!s.ok()) co_return FromStatus(s);
  co_return Ok();
}

Task<ApiResult<ResourceRecord>> OwnedBy(CallContext& ctx, const std::string& id,
                                        std::string_view kind, std::string_view not_found_kind) {
  co_return co_await ctx.services.registry.Owned(ctx.account.id, id, kind, not_found_kind);
}

Task<ApiResult<std::map<std::string, ResourceRecord>>> OwnedOfKind(CallContext& ctx,
                                                                   std::string_view kind) {
  auto list = co_await ctx.services.registry.List(ctx.account.id, std::string(kind));
  if (!list.ok()) co_return FromStatus(list.status());
  std::map<std::string, ResourceRecord> by_id;
  for (auto& r : *list) by_id.emplace(r.id, std::move(r));
  co_return by_id;
}

namespace {

Json TagsAs(const std::map<std::string, std::string>& tags, const char* key, const char* value) {
  Json list = Json::array();
  for (const auto& [k, v] : tags) list.push_back(Json{{key, k}, {value, v}});
  return Wrapped("Tag", std::move(list));
}

}  // namespace

Json EcsTags(const std::map<std::string, std::string>& tags) {
  return TagsAs(tags, "TagKey", "TagValue");
}

Json VpcTags(const std::map<std::string, std::string>& tags) {
  return TagsAs(tags, "Key", "Value");
}

bool TagsMatch(const std::map<std::string, std::string>& tags,
               const std::map<std::string, std::string>& filter) {
  for (const auto& [k, v] : filter) {
    auto it = tags.find(k);
    if (it == tags.end() || (!v.empty() && it->second != v)) return false;
  }
  return true;
}

std::string ScopedName(const Account& account, std::string_view name) {
  return account.id + ":" + std::string(name);
}

std::string UnscopedName(const Account& account, std::string_view scoped) {
  const std::string prefix = account.id + ":";
  if (scoped.substr(0, prefix.size()) != prefix) return "";
  return std::string(scoped.substr(prefix.size()));
}

Task<ApiStatus> CheckQuota(CallContext& ctx, std::string_view kind, size_t limit,
                           ApiError exceeded) {
  if (limit == 0) co_return Ok();
  auto count = co_await ctx.services.registry.Count(ctx.account.id, std::string(kind));
  if (!count.ok()) co_return FromStatus(count.status());
  if (*count >= limit) co_return exceeded;
  co_return Ok();
}

}  // namespace tg::api
