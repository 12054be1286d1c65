#include "cli/account_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "api/auth/accounts.h"

namespace tg::cli {

using api::AccessKey;
using api::AccessKeyStatus;
using api::AccountRecord;
using api::AccountStore;

struct AccountCommands::Flags {
  CLI::App *account = nullptr, *accesskey = nullptr;
  CLI::App *account_create, *account_list, *account_delete;
  CLI::App *key_create, *key_list, *key_disable, *key_enable, *key_delete;
  std::string name;  // an account's name or id, or an AccessKeyId
  bool admin = false;
};

namespace {

void AddEtcd(CLI::App* c, std::string& etcd_list) {
  c->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")->capture_default_str();
}

nlohmann::json AccountJson(const AccountRecord& a) {
  return {{"AccountId", a.id}, {"Name", a.name}, {"Admin", a.admin}, {"CreatedAt", a.created_at}};
}

// Never the secret: only create prints it, by itself.
nlohmann::json KeyJson(const AccessKey& k) {
  return {{"AccessKeyId", k.id},
          {"AccountId", k.account_id},
          {"Status", api::AccessKeyStatusName(k.status)},
          {"CreatedAt", k.created_at}};
}

void Print(const nlohmann::json& j) {
  std::cout << j.dump(2) << std::endl;
}

}  // namespace

AccountCommands::AccountCommands(CLI::App& app, std::string& etcd_list)
    : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  f.account = app.add_subcommand("account", "API accounts: who owns resources and AccessKeys");
  f.account->require_subcommand(1);
  f.account_create = f.account->add_subcommand("create", "Create an account");
  f.account_create->add_option("name", f.name, "Its name (unique)")->required();
  f.account_create->add_flag("--admin", f.admin,
                             "An administrator (sees every account's resources)");
  f.account_list = f.account->add_subcommand("list", "List the accounts as JSON");
  f.account_delete = f.account->add_subcommand(
      "delete", "Delete an account and its AccessKeys (refused while it owns resources)");
  f.account_delete->add_option("account", f.name, "Its name or id (acc-...)")->required();

  f.accesskey = app.add_subcommand("accesskey", "AccessKeys: what API requests are signed with");
  f.accesskey->require_subcommand(1);
  f.key_create = f.accesskey->add_subcommand(
      "create", "Create an AccessKey; its secret is printed now and never again");
  f.key_create->add_option("account", f.name, "The account's name or id")->required();
  f.key_list = f.accesskey->add_subcommand("list", "List AccessKeys (without secrets) as JSON");
  f.key_list->add_option("account", f.name, "Only this account's (name or id)");
  f.key_disable = f.accesskey->add_subcommand("disable", "Disable an AccessKey");
  f.key_enable = f.accesskey->add_subcommand("enable", "Enable a disabled AccessKey");
  f.key_delete = f.accesskey->add_subcommand("delete", "Delete an AccessKey");
  for (auto* c : {f.key_disable, f.key_enable, f.key_delete})
    c->add_option("id", f.name, "The AccessKeyId")->required();

  for (auto* c : {f.account_create, f.account_list, f.account_delete, f.key_create, f.key_list,
                  f.key_disable, f.key_enable, f.key_delete}) {
    AddEtcd(c, etcd_list);
  }
}

AccountCommands::~AccountCommands() = default;

bool AccountCommands::chosen() const {
  return flags_->account->parsed() || flags_->accesskey->parsed();
}

Task<Status> AccountCommands::Run(etcd::Client& client) {
  const Flags& f = *flags_;
  AccountStore store(client);
  if (*f.account_create) {
    TG_CO_ASSIGN_OR_RETURN(AccountRecord a, co_await store.CreateAccount(f.name, f.admin));
    Print(AccountJson(a));
    co_return Status::Ok();
  }
  if (*f.account_list) {
    TG_CO_ASSIGN_OR_RETURN(std::vector<AccountRecord> all, co_await store.ListAccounts());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : all) out.push_back(AccountJson(a));
    Print({{"Accounts", out}});
    co_return Status::Ok();
  }
  if (*f.account_delete) co_return co_await store.DeleteAccount(f.name);
  if (*f.key_create) {
    TG_CO_ASSIGN_OR_RETURN(AccessKey k, co_await store.CreateAccessKey(f.name));
    nlohmann::json j = KeyJson(k);
    j["AccessKeySecret"] = k.secret;
    Print(j);
    co_return Status::Ok();
  }
  if (*f.key_list) {
    TG_CO_ASSIGN_OR_RETURN(std::vector<AccessKey> all, co_await store.ListAccessKeys(f.name));
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : all) out.push_back(KeyJson(k));
    Print({{"AccessKeys", out}});
    co_return Status::Ok();
  }
  if (*f.key_disable)
    co_return co_await store.SetAccessKeyStatus(f.name, AccessKeyStatus::kInactive);
  if (*f.key_enable) co_return co_await store.SetAccessKeyStatus(f.name, AccessKeyStatus::kActive);
  if (*f.key_delete) co_return co_await store.DeleteAccessKey(f.name);
  co_return InvalidArgument("no account or accesskey command chosen");
}

}  // namespace tg::cli
