// The API's accounts and their AccessKeys, kept in etcd
// (docs/formats/api-keys.md):
//
//   /tiangong/api/accounts/<account id>       an account ("acc-..."): name, admin
//   /tiangong/api/account-names/<name>        the name's account id (names are unique)
//   /tiangong/api/access-keys/<AccessKeyId>   a key: secret, account id, status
//
// Every create is one transaction that succeeds only if its keys are
// missing, so two servers or CLIs never make the same name or key twice.
// Secrets are returned by CreateAccessKey and Lookup (the authenticator
// needs them) and never by ListAccessKeys.
//
// Deleting an account deletes its AccessKeys in the same transaction, and
// is refused (FailedPrecondition) while it still owns API resources
// (/tiangong/api/resources/<account id>/...): those must be deleted through
// the API first, or they would be left with no owner who can see them.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"

namespace tg::api {

inline constexpr std::string_view kAccountsPrefix = "/tiangong/api/accounts/";
inline constexpr std::string_view kAccountNamesPrefix = "/tiangong/api/account-names/";
inline constexpr std::string_view kAccessKeysPrefix = "/tiangong/api/access-keys/";
// The registry's (api/service/registry.h); repeated here because auth does
// not depend on the service library.
inline constexpr std::string_view kAccountResourcesPrefix = "/tiangong/api/resources/";

inline constexpr std::string_view kAccountIdPrefix = "acc-";
inline constexpr std::string_view kAccessKeyIdPrefix = "LTAI";
inline constexpr size_t kAccessKeyIdRandomLength = 20;
inline constexpr size_t kAccessKeySecretLength = 30;

struct AccountRecord {
  std::string id;    // "acc-" and 20 lowercase letters and digits
  std::string name;  // unique; 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit
  bool admin = false;
  int64_t created_at = 0;  // unix seconds
};

enum class AccessKeyStatus { kActive, kInactive };
std::string_view AccessKeyStatusName(AccessKeyStatus s);  // "Active", "Inactive"

struct AccessKey {
  std::string id;      // "LTAI" and 20 letters and digits
  std::string secret;  // 30 letters and digits; empty in ListAccessKeys
  std::string account_id;
  AccessKeyStatus status = AccessKeyStatus::kActive;
  int64_t created_at = 0;  // unix seconds
};

// A key pair given rather than drawn (tests, and `up` bootstrapping a known
// key): the id 4-128 letters and digits, the secret 8-128 printable ASCII
// characters without spaces.
struct FixedAccessKey {
  std::string id;
  std::string secret;
};

// A key and the account it belongs to.
struct KeyIdentity {
  AccessKey key;
  AccountRecord account;
};

// The checks on names and ids the store applies (InvalidArgument).
Status ValidateAccountName(std::string_view name);
// Whether `id` could be an AccessKeyId at all (letters and digits, at most
// 128): the authenticator refuses any other before reading etcd.
bool IsWellFormedAccessKeyId(std::string_view id);

class AccountStore {
 public:
  // `now` gives unix seconds (created_at); the system clock by default.
  explicit AccountStore(etcd::Client& etcd, std::function<int64_t()> now = {});

  // AlreadyExists if the name is taken.
  Task<Result<AccountRecord>> CreateAccount(std::string name, bool admin);
  Task<Result<std::vector<AccountRecord>>> ListAccounts();  // by name
  // By id ("acc-...") or name; NotFound.
  Task<Result<AccountRecord>> GetAccount(std::string id_or_name);
  // Deletes the account and its keys; NotFound, FailedPrecondition while it
  // owns resources.
  Task<Status> DeleteAccount(std::string id_or_name);

  // A new key of the account (id or name), Active, with its secret; or the
  // given pair (AlreadyExists if that id is taken).
  Task<Result<AccessKey>> CreateAccessKey(std::string account,
                                          std::optional<FixedAccessKey> fixed = std::nullopt);
  // The account's keys (id or name), or every key when `account` is empty;
  // by id, secrets left empty.
  Task<Result<std::vector<AccessKey>>> ListAccessKeys(std::string account = "");
  // NotFound for an unknown key.
  Task<Status> SetAccessKeyStatus(std::string access_key_id, AccessKeyStatus status);
  Task<Status> DeleteAccessKey(std::string access_key_id);

  // The key with its secret and its account: NotFound when the key, or its
  // account, does not exist.
  Task<Result<KeyIdentity>> Lookup(std::string access_key_id);

 private:
  Task<Result<AccountRecord>> ResolveAccount(const std::string& id_or_name);

  etcd::Client& etcd_;
  std::function<int64_t()> now_;
};

// Record encodings (docs/formats/api-keys.md); decoding is strict: a
// missing, mistyped or unknown field is InvalidArgument.
std::string EncodeAccount(const AccountRecord& a);
Result<AccountRecord> DecodeAccount(std::string_view text);
std::string EncodeAccessKey(const AccessKey& k);
Result<AccessKey> DecodeAccessKey(std::string_view text);

// Random text from the OS's CSPRNG: `length` characters of `alphabet`.
std::string RandomText(size_t length, std::string_view alphabet);

}  // namespace tg::api
