// Who owns what: the API's own record of every resource a tenant made
// through it (/tiangong/api/resources/<account>/<id>), with what Alibaba
// shows that the subsystems' records do not keep (tags, creation time,
// names and API-only attributes such as a disk's category). A resource is
// an account's exactly when this record exists under that account, so
// another account's ids are simply not found and never listed. Resources
// made with the admin CLI have no record: tenants see none of them (except
// images without an owner, which every account sees as system images).
//
// Order of writes: the subsystem's record first, then this one; if writing
// this one fails the handler removes what it made. A crash between the two
// leaves a resource no tenant sees (listed by `tiangong` admin commands).
// Reads come from a Mirror of the records (caught up with this server's own
// writes, see StateView), decoded once per record version; writes go to etcd
// conditioned on the revision read.
// Thread-safety: belongs to the client's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/core/error.h"
#include "api/core/json.h"
#include "base/status.h"
#include "etcd/client.h"
#include "etcd/mirror.h"

namespace tg::api {

inline constexpr std::string_view kApiPrefix = "/tiangong/api/";
inline constexpr std::string_view kResourcesPrefix = "/tiangong/api/resources/";

// The kinds, as ListTagResources names them where it does.
namespace kind {
inline constexpr std::string_view kInstance = "instance";
inline constexpr std::string_view kDisk = "disk";
inline constexpr std::string_view kSnapshot = "snapshot";
inline constexpr std::string_view kImage = "image";
inline constexpr std::string_view kKeyPair = "keypair";
inline constexpr std::string_view kSecurityGroup = "securitygroup";
inline constexpr std::string_view kEni = "eni";
inline constexpr std::string_view kVpc = "VPC";
inline constexpr std::string_view kVSwitch = "VSWITCH";
inline constexpr std::string_view kRouteTable = "ROUTETABLE";
inline constexpr std::string_view kEip = "EIP";
inline constexpr std::string_view kNatGateway = "NATGATEWAY";
inline constexpr std::string_view kVpnGateway = "VpnGateway";
inline constexpr std::string_view kCustomerGateway = "CustomerGateway";
inline constexpr std::string_view kVpnConnection = "VpnConnection";
inline constexpr std::string_view kTask = "task";
}  // namespace kind

struct ResourceRecord {
  std::string id;
  std::string kind;
  std::string account;
  int64_t created_at = 0;  // unix seconds
  std::string name;
  std::string description;
  std::map<std::string, std::string> tags;
  Json extra = Json::object();  // per kind, API-only attributes
  int64_t revision = 0;         // mod revision when read (0 for a new record)
  int64_t create_revision = 0;  // etcd's, when read: the order records were made in
};

std::string ResourceKey(std::string_view account, std::string_view id);
std::string Encode(const ResourceRecord& r);
Result<ResourceRecord> DecodeResource(std::string_view text);

class Registry {
 public:
  // `records`: a Mirror of kResourcesPrefix on `client`.
  Registry(etcd::Client& client, etcd::Mirror& records) : client_(client), records_(records) {}

  // The account's record of `id`, or nullopt.
  Task<Result<std::optional<ResourceRecord>>> Get(std::string account, std::string id);
  // The account's record of `id` if it is of `kind`, else 404
  // Invalid<not_found_kind>Id.NotFound (e.g. "Instance").
  Task<ApiResult<ResourceRecord>> Owned(std::string account, std::string id, std::string_view kind,
                                        std::string_view not_found_kind);
  // Every record of the account ("" kind: of every kind).
  Task<Result<std::vector<ResourceRecord>>> List(std::string account, std::string kind = "");
  // How many of `kind` the account holds (quotas).
  Task<Result<size_t>> Count(std::string account, std::string kind);
  // A new record (AlreadyExists if its key exists).
  Task<Status> Create(ResourceRecord record);
  // Read-modify-write, retried on a concurrent change; NotFound if absent.
  Task<Result<ResourceRecord>> Change(std::string account, std::string id,
                                      std::function<Status(ResourceRecord&)> change);
  // The same for several records of the account, written in one transaction
  // (a reader sees all of the changes or none); NotFound if one is absent.
  Task<Status> ChangeAll(std::string account, std::vector<std::string> ids,
                         std::function<Status(std::vector<ResourceRecord>&)> change);
  Task<Status> Delete(std::string account, std::string id);
  // Whether any account holds a record of `id` (an image that is someone's
  // is not a system image).
  Task<Result<bool>> AnyAccountHolds(std::string id);

 private:
  struct Decoded {
    int64_t mod_revision = 0;
    Result<ResourceRecord> record;
  };
  // The mirror's record at `kv`, decoded once per version.
  const Result<ResourceRecord>& DecodeCached(const etcd::KeyValue& kv);
  // The record as etcd has it now (read-modify-write).
  Task<Result<std::optional<ResourceRecord>>> GetStored(std::string account, std::string id);

  etcd::Client& client_;
  etcd::Mirror& records_;
  std::map<std::string, Decoded> decoded_;  // by key
};

}  // namespace tg::api
