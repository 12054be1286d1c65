#include "api/auth/accounts.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "base/json_record.h"

namespace tg::api {

namespace {

constexpr std::string_view kLowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view kAlnum =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

bool IsAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

std::string AccountKey(std::string_view id) {
  return fmt::format("{}{}", kAccountsPrefix, id);
}
std::string NameKey(std::string_view name) {
  return fmt::format("{}{}", kAccountNamesPrefix, name);
}
std::string AccessKeyKey(std::string_view id) {
  return fmt::format("{}{}", kAccessKeysPrefix, id);
}

bool IsAccountId(std::string_view s) {
  if (s.substr(0, kAccountIdPrefix.size()) != kAccountIdPrefix) return false;
  std::string_view rest = s.substr(kAccountIdPrefix.size());
  return !rest.empty() && rest.size() <= 64 &&
         std::all_of(rest.begin(), rest.end(), [](char c) { return IsAlnum(c); });
}

// Refuses any field the record format does not have.
void CheckFields(const nlohmann::json& j, const std::set<std::string>& allowed) {
  for (const auto& [name, value] : j.items()) {
    if (name != kRecordFormatField && !allowed.count(name))
      throw std::invalid_argument(fmt::format("unknown field {}", name));
  }
}

std::string NameRecord(std::string_view account_id) {
  nlohmann::json j = {{"account_id", account_id}};
  StampRecordFormat(j);
  return j.dump();
}

Result<std::string> DecodeNameRecord(std::string_view text) {
  return DecodeJsonRecord<std::string>(
      text, "account name", [](const nlohmann::json& j, std::string& id) {
        CheckFields(j, {"account_id"});
        id = j.at("account_id").get<std::string>();
        if (!IsAccountId(id)) throw std::invalid_argument("account_id is not an account id");
      });
}

Status ValidateFixedKey(const FixedAccessKey& k) {
  if (k.id.size() < 4 || !IsWellFormedAccessKeyId(k.id))
    return InvalidArgument("an AccessKeyId is 4-128 letters and digits");
  if (k.secret.size() < 8 || k.secret.size() > 128 ||
      !std::all_of(k.secret.begin(), k.secret.end(), [](char c) { return c > ' ' && c < 127; }))
    return InvalidArgument("an AccessKeySecret is 8-128 printable characters without spaces");
  return Status::Ok();
}

}  // namespace

std::string_view AccessKeyStatusName(AccessKeyStatus s) {
  return s == AccessKeyStatus::kActive ? "Active" : "Inactive";
}

Status ValidateAccountName(std::string_view name) {
  if (name.empty() || name.size() > 64)
    return InvalidArgument("an account name is 1-64 characters");
  if (!IsAlnum(name.front()))
    return InvalidArgument("an account name starts with a letter or a digit");
  for (char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-')
      return InvalidArgument("an account name has only letters, digits, '.', '_' and '-'");
  }
  // Commands take an account by id or name: a name never looks like an id.
  if (name.substr(0, kAccountIdPrefix.size()) == kAccountIdPrefix)
    return InvalidArgument("an account name does not start with \"{}\"", kAccountIdPrefix);
  return Status::Ok();
}

bool IsWellFormedAccessKeyId(std::string_view id) {
  return !id.empty() && id.size() <= 128 &&
         std::all_of(id.begin(), id.end(), [](char c) { return IsAlnum(c); });
}

std::string RandomText(size_t length, std::string_view alphabet) {
  // Rejection sampling keeps every character equally likely.
  const unsigned limit = 256 - 256 % alphabet.size();
  std::string out;
  out.reserve(length);
  unsigned char buffer[64];
  while (out.size() < length) {
    if (RAND_bytes(buffer, sizeof buffer) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : buffer) {
      if (b >= limit) continue;
      out += alphabet[b % alphabet.size()];
      if (out.size() == length) break;
    }
  }
  return out;
}

std::string EncodeAccount(const AccountRecord& a) {
  nlohmann::json j = {
      {"id", a.id}, {"name", a.name}, {"admin", a.admin}, {"created_at", a.created_at}};
  StampRecordFormat(j);
  return j.dump();
}

Result<AccountRecord> DecodeAccount(std::string_view text) {
  return DecodeJsonRecord<AccountRecord>(text, "account",
                                         [](const nlohmann::json& j, AccountRecord& a) {
                                           CheckFields(j, {"id", "name", "admin", "created_at"});
                                           a.id = j.at("id").get<std::string>();
                                           a.name = j.at("name").get<std::string>();
                                           a.admin = j.at("admin").get<bool>();
                                           a.created_at = j.at("created_at").get<int64_t>();
                                           if (!IsAccountId(a.id))
                                             throw std::invalid_argument("id is not an account id");
                                           if (Status s = ValidateAccountName(a.name); !s.ok())
                                             throw std::invalid_argument(s.message());
                                         });
}

std::string EncodeAccessKey(const AccessKey& k) {
  nlohmann::json j = {{"id", k.id},
                      {"secret", k.secret},
                      {"account_id", k.account_id},
                      {"status", AccessKeyStatusName(k.status)},
                      {"created_at", k.created_at}};
  StampRecordFormat(j);
  return j.dump();
}

Result<AccessKey> DecodeAccessKey(std::string_view text) {
  return DecodeJsonRecord<AccessKey>(text, "access key", [](const nlohmann::json& j, AccessKey& k) {
    CheckFields(j, {"id", "secret", "account_id", "status", "created_at"});
    k.id = j.at("id").get<std::string>();
    k.secret = j.at("secret").get<std::string>();
    k.account_id = j.at("account_id").get<std::string>();
    k.created_at = j.at("created_at").get<int64_t>();
    std::string status = j.at("status").get<std::string>();
    if (status == "Active") {
      k.status = AccessKeyStatus::kActive;
    } else if (status == "Inactive") {
      k.status = AccessKeyStatus::kInactive;
    } else {
      throw std::invalid_argument("status is neither Active nor Inactive");
    }
    if (!IsWellFormedAccessKeyId(k.id)) throw std::invalid_argument("id is not an AccessKeyId");
    if (k.secret.empty()) throw std::invalid_argument("secret is empty");
    if (!IsAccountId(k.account_id)) throw std::invalid_argument("account_id is not an account id");
  });
}

AccountStore::AccountStore(etcd::Client& etcd, std::function<int64_t()> now)
    : etcd_(etcd), now_(std::move(now)) {
  if (!now_) {
    now_ = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Task<Result<AccountRecord>> AccountStore::CreateAccount(std::string name, bool admin) {
  TG_CO_RETURN_IF_ERROR(ValidateAccountName(name));
  AccountRecord a{.id = fmt::format("{}{}", kAccountIdPrefix, RandomText(20, kLowerAlnum)),
                  .name = name,
                  .admin = admin,
                  .created_at = now_()};
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Missing(NameKey(name)));
  txn.compares.push_back(etcd::Compare::Missing(AccountKey(a.id)));
  txn.then.push_back(etcd::TxnOp::Put(AccountKey(a.id), EncodeAccount(a)));
  txn.then.push_back(etcd::TxnOp::Put(NameKey(name), NameRecord(a.id)));
  TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult r, co_await etcd_.Commit(std::move(txn)));
  if (!r.succeeded) co_return AlreadyExists("account {} already exists", name);
  co_return a;
}

Task<Result<std::vector<AccountRecord>>> AccountStore::ListAccounts() {
  etcd::GetOptions options{.prefix = true};
  TG_CO_ASSIGN_OR_RETURN(etcd::GetResult r,
                         co_await etcd_.Get(std::string(kAccountsPrefix), options));
  std::vector<AccountRecord> out;
  for (const auto& kv : r.kvs) {
    TG_CO_ASSIGN_OR_RETURN(AccountRecord a, DecodeAccount(kv.value));
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(),
            [](const AccountRecord& x, const AccountRecord& y) { return x.name < y.name; });
  co_return out;
}

Task<Result<AccountRecord>> AccountStore::ResolveAccount(const std::string& id_or_name) {
  std::string id = id_or_name;
  if (!IsAccountId(id_or_name)) {
    TG_CO_RETURN_IF_ERROR(ValidateAccountName(id_or_name));
    TG_CO_ASSIGN_OR_RETURN(etcd::GetResult n, co_await etcd_.Get(NameKey(id_or_name)));
    if (n.kvs.empty()) co_return NotFound("account {} does not exist", id_or_name);
    TG_CO_ASSIGN_OR_RETURN(id, DecodeNameRecord(n.kvs[0].value));
  }
  TG_CO_ASSIGN_OR_RETURN(etcd::GetResult r, co_await etcd_.Get(AccountKey(id)));
  if (r.kvs.empty()) co_return NotFound("account {} does not exist", id_or_name);
  co_return DecodeAccount(r.kvs[0].value);
}

Task<Result<AccountRecord>> AccountStore::GetAccount(std::string id_or_name) {
  co_return co_await ResolveAccount(id_or_name);
}

Task<Status> AccountStore::DeleteAccount(std::string id_or_name) {
  TG_CO_ASSIGN_OR_RETURN(AccountRecord a, co_await ResolveAccount(id_or_name));
  etcd::GetOptions count{.prefix = true, .count_only = true};
  std::string resources = fmt::format("{}{}/", kAccountResourcesPrefix, a.id);
  TG_CO_ASSIGN_OR_RETURN(etcd::GetResult owned, co_await etcd_.Get(resources, count));
  if (owned.count > 0) {
    co_return FailedPrecondition(
        "account {} still owns {} resources: delete them through the API first", a.name,
        owned.count);
  }
  TG_CO_ASSIGN_OR_RETURN(std::vector<AccessKey> keys, co_await ListAccessKeys(a.id));
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Version(AccountKey(a.id), etcd::Compare::Op::kGreater, 0));
  txn.then.push_back(etcd::TxnOp::Delete(AccountKey(a.id)));
  txn.then.push_back(etcd::TxnOp::Delete(NameKey(a.name)));
  for (const AccessKey& k : keys) txn.then.push_back(etcd::TxnOp::Delete(AccessKeyKey(k.id)));
  TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult r, co_await etcd_.Commit(std::move(txn)));
  if (!r.succeeded) co_return NotFound("account {} does not exist", id_or_name);
  co_return Status::Ok();
}

Task<Result<AccessKey>> AccountStore::CreateAccessKey(std::string account,
                                                      std::optional<FixedAccessKey> fixed) {
  if (fixed) TG_CO_RETURN_IF_ERROR(ValidateFixedKey(*fixed));
  TG_CO_ASSIGN_OR_RETURN(AccountRecord a, co_await ResolveAccount(account));
  AccessKey k{.id = fixed ? fixed->id
                          : fmt::format("{}{}", kAccessKeyIdPrefix,
                                        RandomText(kAccessKeyIdRandomLength, kAlnum)),
              .secret = fixed ? fixed->secret : RandomText(kAccessKeySecretLength, kAlnum),
              .account_id = a.id,
              .status = AccessKeyStatus::kActive,
              .created_at = now_()};
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Missing(AccessKeyKey(k.id)));
  txn.compares.push_back(etcd::Compare::Version(AccountKey(a.id), etcd::Compare::Op::kGreater, 0));
  txn.then.push_back(etcd::TxnOp::Put(AccessKeyKey(k.id), EncodeAccessKey(k)));
  TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult r, co_await etcd_.Commit(std::move(txn)));
  if (!r.succeeded) {
    co_return AlreadyExists("AccessKey {} already exists, or account {} was just deleted", k.id,
                            account);
  }
  co_return k;
}

Task<Result<std::vector<AccessKey>>> AccountStore::ListAccessKeys(std::string account) {
  std::string account_id;
  if (!account.empty()) {
    TG_CO_ASSIGN_OR_RETURN(AccountRecord a, co_await ResolveAccount(account));
    account_id = a.id;
  }
  etcd::GetOptions options{.prefix = true};
  TG_CO_ASSIGN_OR_RETURN(etcd::GetResult r,
                         co_await etcd_.Get(std::string(kAccessKeysPrefix), options));
  std::vector<AccessKey> out;
  for (const auto& kv : r.kvs) {
    TG_CO_ASSIGN_OR_RETURN(AccessKey k, DecodeAccessKey(kv.value));
    if (!account_id.empty() && k.account_id != account_id) continue;
    k.secret.clear();
    out.push_back(std::move(k));
  }
  co_return out;
}

Task<Status> AccountStore::SetAccessKeyStatus(std::string access_key_id, AccessKeyStatus status) {
  if (!IsWellFormedAccessKeyId(access_key_id))
    co_return NotFound("AccessKey {} does not exist", access_key_id.substr(0, 128));
  // Compare-and-swap on the revision read, retried when a concurrent change won.
  for (int attempt = 0; attempt < 5; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(etcd::GetResult r, co_await etcd_.Get(AccessKeyKey(access_key_id)));
    if (r.kvs.empty()) co_return NotFound("AccessKey {} does not exist", access_key_id);
    TG_CO_ASSIGN_OR_RETURN(AccessKey k, DecodeAccessKey(r.kvs[0].value));
    if (k.status == status) co_return Status::Ok();
    k.status = status;
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::ModRevision(AccessKeyKey(k.id), etcd::Compare::Op::kEqual,
                                                      r.kvs[0].mod_revision));
    txn.then.push_back(etcd::TxnOp::Put(AccessKeyKey(k.id), EncodeAccessKey(k)));
    TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult t, co_await etcd_.Commit(std::move(txn)));
    if (t.succeeded) co_return Status::Ok();
  }
  co_return Aborted("AccessKey {} kept changing; try again", access_key_id);
}

Task<Status> AccountStore::DeleteAccessKey(std::string access_key_id) {
  if (!IsWellFormedAccessKeyId(access_key_id))
    co_return NotFound("AccessKey {} does not exist", access_key_id.substr(0, 128));
  TG_CO_ASSIGN_OR_RETURN(etcd::DeleteResult r, co_await etcd_.Delete(AccessKeyKey(access_key_id)));
  if (r.deleted == 0) co_return NotFound("AccessKey {} does not exist", access_key_id);
  co_return Status::Ok();
}

Task<Result<KeyIdentity>> AccountStore::Lookup(std::string access_key_id) {
  if (!IsWellFormedAccessKeyId(access_key_id))
    co_return NotFound("AccessKey {} does not exist", access_key_id.substr(0, 128));
  TG_CO_ASSIGN_OR_RETURN(etcd::GetResult r, co_await etcd_.Get(AccessKeyKey(access_key_id)));
  if (r.kvs.empty()) co_return NotFound("AccessKey {} does not exist", access_key_id);
  TG_CO_ASSIGN_OR_RETURN(AccessKey k, DecodeAccessKey(r.kvs[0].value));
  TG_CO_ASSIGN_OR_RETURN(etcd::GetResult a, co_await etcd_.Get(AccountKey(k.account_id)));
  // A key left behind by an account deleted while it was being created.
  if (a.kvs.empty()) co_return NotFound("AccessKey {} has no account", access_key_id);
  TG_CO_ASSIGN_OR_RETURN(AccountRecord account, DecodeAccount(a.kvs[0].value));
  KeyIdentity identity{.key = std::move(k), .account = std::move(account)};
  co_return identity;
}

}  // namespace tg::api
