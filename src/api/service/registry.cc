#include "api/service/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "api/service/state_view.h"
#include "base/json_record.h"

namespace tg::api {

namespace {

using json = nlohmann::json;

// Ids and account ids are printable ASCII without '/', so a key names one
// resource of one account.
bool SafeKeyPart(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (c <= ' ' || c > '~' || c == '/') return false;
  return true;
}

std::string AccountPrefix(std::string_view account) {
  return fmt::format("{}{}/", kResourcesPrefix, account);
}

}  // namespace

std::string ResourceKey(std::string_view account, std::string_view id) {
  return AccountPrefix(account) + std::string(id);
}

std::string Encode(const ResourceRecord& r) {
  json j = {{"id", r.id},           {"kind", r.kind},
            {"account", r.account}, {"created_at", r.created_at},
            {"name", r.name},       {"description", r.description},
            {"tags", r.tags},       {"extra", json::parse(r.extra.dump())}};
  StampRecordFormat(j);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ResourceRecord> DecodeResource(std::string_view text) {
  return DecodeJsonRecord<ResourceRecord>(
      text, "API resource", [](const json& j, ResourceRecord& r) {
        r.id = j.at("id").get<std::string>();
        r.kind = j.at("kind").get<std::string>();
        r.account = j.at("account").get<std::string>();
        r.created_at = j.at("created_at").get<int64_t>();
        r.name = j.at("name").get<std::string>();
        r.description = j.at("description").get<std::string>();
        r.tags = j.at("tags").get<std::map<std::string, std::string>>();
        const json& extra = j.at("extra");
        if (!extra.is_object()) throw std::invalid_argument("extra is not an object");
        r.extra = Json::parse(extra.dump());
        if (!SafeKeyPart(r.id) || !SafeKeyPart(r.account) || r.kind.empty())
          throw std::invalid_argument("id, account or kind is not valid");
      });
}

namespace {

// A record whose key names another account or id than it says is refused
// like one that does not decode.
Result<ResourceRecord> Checked(const etcd::KeyValue& kv, std::string_view account,
                               std::string_view id) {
  auto r = DecodeResource(kv.value);
  if (!r.ok()) return r.status().Annotate(kv.key);
  if (r->account != account || r->id != id)
    return InvalidArgument("API resource {} names another account or id", kv.key);
  r->revision = kv.mod_revision;
  r->create_revision = kv.create_revision;
  return r;
}

// The account and id a record's key names ("<prefix><account>/<id>").
std::pair<std::string_view, std::string_view> KeyParts(std::string_view key) {
  std::string_view rest = key.substr(kResourcesPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {rest, {}};
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

}  // namespace

const Result<ResourceRecord>& Registry::DecodeCached(const etcd::KeyValue& kv) {
  // Versions of records since deleted are dropped once they are as many as
  // the records themselves.
  if (decoded_.size() > 2 * records_.kvs().size() + 64) {
    std::erase_if(decoded_, [&](const auto& e) { return !records_.kvs().contains(e.first); });
  }
  auto it = decoded_.find(kv.key);
  if (it == decoded_.end() || it->second.mod_revision != kv.mod_revision) {
    auto [account, id] = KeyParts(kv.key);
    Decoded d{kv.mod_revision, Checked(kv, account, id)};
    it = decoded_.insert_or_assign(kv.key, std::move(d)).first;
  }
  return it->second.record;
}

Task<Result<std::optional<ResourceRecord>>> Registry::Get(std::string account, std::string id) {
  if (!SafeKeyPart(account) || !SafeKeyPart(id)) co_return std::optional<ResourceRecord>();
  TG_CO_RETURN_IF_ERROR(co_await CatchUp(records_));
  auto it = records_.kvs().find(ResourceKey(account, id));
  if (it == records_.kvs().end()) co_return std::optional<ResourceRecord>();
  const auto& r = DecodeCached(it->second);
  if (!r.ok()) co_return r.status();
  co_return std::optional<ResourceRecord>(*r);
}

Task<Result<std::optional<ResourceRecord>>> Registry::GetStored(std::string account,
                                                                std::string id) {
  if (!SafeKeyPart(account) || !SafeKeyPart(id)) co_return std::optional<ResourceRecord>();
  auto got = co_await client_.Get(ResourceKey(account, id));
  if (!got.ok()) co_return got.status();
  if (got->kvs.empty()) co_return std::optional<ResourceRecord>();
  auto r = Checked(got->kvs[0], account, id);
  if (!r.ok()) co_return r.status();
  co_return std::optional<ResourceRecord>(*std::move(r));
}

Task<ApiResult<ResourceRecord>> Registry::Owned(std::string account, std::string id,
                                                std::string_view kind,
                                                std::string_view not_found_kind) {
  auto got = co_await Get(account, id);
  if (!got.ok()) co_return FromStatus(got.status());
  if (!got->has_value() || (*got)->kind != kind) co_return NotFound(not_found_kind, id);
  co_return **std::move(got);
}

Task<Result<std::vector<ResourceRecord>>> Registry::List(std::string account, std::string kind) {
  std::vector<ResourceRecord> out;
  if (!SafeKeyPart(account)) co_return out;
  TG_CO_RETURN_IF_ERROR(co_await CatchUp(records_));
  const std::string prefix = AccountPrefix(account);
  for (auto it = records_.kvs().lower_bound(prefix);
       it != records_.kvs().end() && it->first.starts_with(prefix); ++it) {
    const auto& r = DecodeCached(it->second);
    // A record that does not decode fails the listing: showing the rest as
    // if it were absent would let a caller act on a partial view.
    if (!r.ok()) co_return r.status();
    if (!kind.empty() && r->kind != kind) continue;
    out.push_back(*r);
  }
  co_return out;
}

Task<Result<size_t>> Registry::Count(std::string account, std::string kind) {
  auto list = co_await List(std::move(account), std::move(kind));
  if (!list.ok()) co_return list.status();
  co_return list->size();
}

Task<Status> Registry::Create(ResourceRecord record) {
  if (!SafeKeyPart(record.account) || !SafeKeyPart(record.id))
    co_return InvalidArgument("resource id or account is not valid");
  const std::string key = ResourceKey(record.account, record.id);
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Missing(key));
  txn.then.push_back(etcd::TxnOp::Put(key, Encode(record)));
  auto r = co_await client_.Commit(std::move(txn));
  if (!r.ok()) co_return r.status();
  if (!r->succeeded) co_return AlreadyExists("resource {} is already recorded", record.id);
  co_return Status::Ok();
}

Task<Result<ResourceRecord>> Registry::Change(std::string account, std::string id,
                                              std::function<Status(ResourceRecord&)> change) {
  ResourceRecord written;
  std::function<Status(std::vector<ResourceRecord>&)> one = [&](std::vector<ResourceRecord>& r) {
    TG_RETURN_IF_ERROR(change(r[0]));
    written = r[0];
    return Status::Ok();
  };
  std::vector<std::string> ids = {id};
  TG_CO_RETURN_IF_ERROR(co_await ChangeAll(std::move(account), std::move(ids), one));
  co_return written;
}

Task<Status> Registry::ChangeAll(std::string account, std::vector<std::string> ids,
                                 std::function<Status(std::vector<ResourceRecord>&)> change) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::vector<ResourceRecord> records;
    for (const auto& id : ids) {
      auto got = co_await GetStored(account, id);
      if (!got.ok()) co_return got.status();
      if (!got->has_value()) co_return tg::NotFound("resource {} not found", id);
      records.push_back(**std::move(got));
    }
    TG_CO_RETURN_IF_ERROR(change(records));
    etcd::Txn txn;
    for (const auto& r : records) {
      const std::string key = ResourceKey(r.account, r.id);
      txn.compares.push_back(
          etcd::Compare::ModRevision(key, etcd::Compare::Op::kEqual, r.revision));
      txn.then.push_back(etcd::TxnOp::Put(key, Encode(r)));
    }
    auto r = co_await client_.Commit(std::move(txn));
    if (!r.ok()) co_return r.status();
    if (r->succeeded) co_return Status::Ok();
  }
  co_return Aborted("resources {} kept changing", fmt::join(ids, ", "));
}

Task<Status> Registry::Delete(std::string account, std::string id) {
  if (!SafeKeyPart(account) || !SafeKeyPart(id)) co_return Status::Ok();
  auto r = co_await client_.Delete(ResourceKey(account, id));
  co_return r.status();
}

Task<Result<bool>> Registry::AnyAccountHolds(std::string id) {
  TG_CO_RETURN_IF_ERROR(co_await CatchUp(records_));
  for (const auto& [key, kv] : records_.kvs())
    if (KeyParts(key).second == id) co_return true;
  co_return false;
}

}  // namespace tg::api
