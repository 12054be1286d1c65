// What every handler file needs beside the stores: records of ownership made
// and checked the same way everywhere, tags rendered in the two shapes the
// products use, tag filters, and per-account quotas.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "api/core/error.h"
#include "api/core/json.h"
#include "api/service/context.h"
#include "api/service/registry.h"

namespace tg::api {

// A new ownership record of the caller's account for `id`, created now.
ResourceRecord NewResource(const CallContext& ctx, std::string id, std::string_view kind,
                           std::string name = "", std::string description = "");

// Records `record` (the subsystem's resource already exists). On failure the
// caller removes what it made.
Task<ApiStatus> RecordOwnership(CallContext& ctx, ResourceRecord record);

// The caller's record of `id` of `kind`, or 404 Invalid<not_found_kind>Id.NotFound.
Task<ApiResult<ResourceRecord>> OwnedBy(CallContext& ctx, const std::string& id,
                                        std::string_view kind, std::string_view not_found_kind);

// Every record of `kind` the caller owns, by id.
Task<ApiResult<std::map<std::string, ResourceRecord>>> OwnedOfKind(CallContext& ctx,
                                                                   std::string_view kind);

// ECS and NAT gateway shape: {"Tag":[{"TagKey":k,"TagValue":v}]}.
Json EcsTags(const std::map<std::string, std::string>& tags);
// VPC shape (VPC, vSwitch, EIP, route table, VPN): {"Tag":[{"Key":k,"Value":v}]}.
Json VpcTags(const std::map<std::string, std::string>& tags);

// Every tag of `filter` is on `tags` with that value (an empty filter value
// matches any value, as Alibaba's Tag.N.Value is optional in filters).
bool TagsMatch(const std::map<std::string, std::string>& tags,
               const std::map<std::string, std::string>& filter);

// Names the compute store keeps unique cloud-wide (image and key pair
// names) are scoped by the account ("<account id>:<name>"), so two tenants
// may both have a key pair "default". The API shows the unscoped name.
std::string ScopedName(const Account& account, std::string_view name);
// The name without the account's scope, or "" if it is not the account's.
std::string UnscopedName(const Account& account, std::string_view scoped);

// Refuses one more of `kind` when the account already holds `limit` (0: no
// limit) with `exceeded` (e.g. Error(403, "QuotaExceed.ElasticQuota", ...)).
Task<ApiStatus> CheckQuota(CallContext& ctx, std::string_view kind, size_t limit,
                           ApiError exceeded);

}  // namespace tg::api
