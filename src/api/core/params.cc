#include "api/core/params.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

namespace tg::api {
namespace {

// Every action accepts these. Protocol and signature fields are read by the
// frontend; the owner fields are SDK noise; RegionId is resolved from ids
// or the endpoint. ResourceGroupId and AcceptLanguage are sent by Terraform
// and some SDKs on calls that have no use for them: accepted and ignored
// unless the action reads them.
constexpr std::array<std::string_view, 21> kCommonParameters = {
    "Action",           "Version",         "Format",
    "AccessKeyId",      "Signature",       "SignatureMethod",
    "SignatureVersion", "SignatureNonce",  "SignatureType",
    "Timestamp",        "RegionId",        "OwnerId",
    "OwnerAccount",     "ResourceOwnerId", "ResourceOwnerAccount",
    "ClientToken",      "DryRun",          "SecurityToken",
    "BearerToken",      "AcceptLanguage",  "ResourceGroupId",
};

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && EqualsIgnoringCase(text.substr(0, prefix.size()), prefix);
}

// A list index: decimal, from 1, no leading zero, at most `max`.
std::optional<size_t> ParseIndex(std::string_view text, size_t max) {
  if (text.empty() || text.size() > 6 || text[0] == '0') return std::nullopt;
  size_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  if (n > max) return std::nullopt;
  return n;
}

// The indices 1..N must all be there.
bool Contiguous(size_t count, size_t highest) {
  return count == highest;
}

// `field` is one of `fields`, or a list inside the element ("SecurityGroupIds.1"
// for the field "SecurityGroupIds").
bool KnownField(std::string_view field, const std::set<std::string>& fields) {
  if (field.empty()) return false;
  if (fields.count(std::string(field)) > 0) return true;
  size_t dot = field.find('.');
  while (dot != std::string_view::npos) {
    if (fields.count(std::string(field.substr(0, dot))) > 0 && dot + 1 < field.size()) return true;
    dot = field.find('.', dot + 1);
  }
  return false;
}

}  // namespace

bool IsCommonParameter(std::string_view name) {
  return std::find(kCommonParameters.begin(), kCommonParameters.end(), name) !=
         kCommonParameters.end();
}

bool Params::Has(std::string_view name) const {
  return values_.find(std::string(name)) != values_.end();
}

const std::string* Params::Find(std::string_view name) {
  used_.insert(std::string(name));
  auto it = values_.find(std::string(name));
  return it == values_.end() ? nullptr : &it->second;
}

ApiResult<std::string> Params::Required(std::string_view name) {
  const std::string* v = Find(name);
  if (v == nullptr || v->empty()) return MissingParameter(name);
  return *v;
}

std::optional<std::string> Params::Optional(std::string_view name) {
  const std::string* v = Find(name);
  if (v == nullptr || v->empty()) return std::nullopt;
  return *v;
}

std::string Params::OptionalOr(std::string_view name, std::string fallback) {
  auto v = Optional(name);
  return v ? *v : std::move(fallback);
}

ApiResult<std::optional<int64_t>> Params::Int(std::string_view name, int64_t min, int64_t max) {
  auto v = Optional(name);
  if (!v) return std::optional<int64_t>();
  const std::string& text = *v;
  auto out_of_range = [&] {
    return InvalidParameter(name, fmt::format("it must be an integer from {} to {}", min, max));
  };
  size_t i = 0;
  bool negative = false;
  if (text[0] == '-') {
    negative = true;
    i = 1;
  }
  if (i == text.size() || text.size() - i > 19) return out_of_range();
  // Accumulated as a negative number so INT64_MIN fits.
  int64_t n = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return out_of_range();
    int digit = c - '0';
    if (n < (std::numeric_limits<int64_t>::min() + digit) / 10) return out_of_range();
    n = n * 10 - digit;
  }
  if (!negative) {
    if (n == std::numeric_limits<int64_t>::min()) return out_of_range();
    n = -n;
  }
  if (n < min || n > max) return out_of_range();
  return std::optional<int64_t>(n);
}

ApiResult<int64_t> Params::RequiredInt(std::string_view name, int64_t min, int64_t max) {
  TG_API_ASSIGN_OR_RETURN(auto v, Int(name, min, max));
  if (!v) return MissingParameter(name);
  return *v;
}

ApiResult<std::optional<bool>> Params::Bool(std::string_view name) {
  auto v = Optional(name);
  if (!v) return std::optional<bool>();
  if (EqualsIgnoringCase(*v, "true")) return std::optional<bool>(true);
  if (EqualsIgnoringCase(*v, "false")) return std::optional<bool>(false);
  return InvalidParameter(name, "it must be true or false");
}

ApiResult<std::optional<std::string>> Params::Enum(std::string_view name,
                                                   std::vector<std::string_view> allowed) {
  auto v = Optional(name);
  if (!v) return std::optional<std::string>();
  for (std::string_view a : allowed) {
    if (EqualsIgnoringCase(*v, a)) return std::optional<std::string>(std::string(a));
  }
  std::string list;
  for (std::string_view a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  return InvalidParameter(name, fmt::format("it must be one of {}", list));
}

ApiResult<std::optional<std::string>> Params::Ascii(std::string_view name, size_t max_length) {
  auto v = Optional(name);
  if (!v) return std::optional<std::string>();
  if (v->size() > max_length) {
    return InvalidParameter(name, fmt::format("it must be at most {} characters", max_length));
  }
  for (char c : *v) {
    if (c < 0x20 || c > 0x7e) return InvalidParameter(name, "it must be printable ASCII");
  }
  return v;
}

ApiResult<std::vector<std::string>> Params::ListA(std::string_view name, size_t max) {
  const std::string prefix = std::string(name) + ".";
  std::map<size_t, std::string> items;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix);
       ++it) {
    used_.insert(it->first);
    auto index = ParseIndex(std::string_view(it->first).substr(prefix.size()), max);
    if (!index) {
      return InvalidParameter(it->first, fmt::format("the items of {} are numbered {}.1 to {}.{}",
                                                     name, name, name, max));
    }
    items[*index] = it->second;
  }
  if (!items.empty() && !Contiguous(items.size(), items.rbegin()->first)) {
    return InvalidParameter(
        name, fmt::format("the items of {} must be numbered from 1 without gaps", name));
  }
  std::vector<std::string> out;
  out.reserve(items.size());
  for (auto& [index, value] : items) out.push_back(std::move(value));
  return out;
}

ApiResult<std::vector<Params::Struct>> Params::StructList(std::string_view name,
                                                          const std::set<std::string>& fields,
                                                          size_t max) {
  const std::string prefix = std::string(name) + ".";
  std::map<size_t, Struct> items;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix);
       ++it) {
    used_.insert(it->first);
    std::string_view rest = std::string_view(it->first).substr(prefix.size());
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) {
      return InvalidParameter(it->first, fmt::format("{} takes {}.N.<field>", name, name));
    }
    auto index = ParseIndex(rest.substr(0, dot), max);
    if (!index) {
      return InvalidParameter(it->first, fmt::format("the items of {} are numbered {}.1 to {}.{}",
                                                     name, name, name, max));
    }
    std::string_view field = rest.substr(dot + 1);
    if (!KnownField(field, fields)) {
      return InvalidParameter(it->first, fmt::format("{} has no such field", name));
    }
    items[*index][std::string(field)] = it->second;
  }
  if (!items.empty() && !Contiguous(items.size(), items.rbegin()->first)) {
    return InvalidParameter(
        name, fmt::format("the items of {} must be numbered from 1 without gaps", name));
  }
  std::vector<Struct> out;
  out.reserve(items.size());
  for (auto& [index, item] : items) out.push_back(std::move(item));
  return out;
}

ApiResult<Params::Struct> Params::Dotted(std::string_view name,
                                         const std::set<std::string>& fields) {
  const std::string prefix = std::string(name) + ".";
  Struct out;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix);
       ++it) {
    used_.insert(it->first);
    std::string_view field = std::string_view(it->first).substr(prefix.size());
    if (!KnownField(field, fields)) {
      return InvalidParameter(it->first, fmt::format("{} has no such field", name));
    }
    out[std::string(field)] = it->second;
  }
  return out;
}

ApiResult<std::vector<std::string>> Params::JsonArray(std::string_view name, size_t max) {
  auto v = Optional(name);
  std::vector<std::string> out;
  if (!v) return out;
  auto parsed = nlohmann::json::parse(*v, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) {
    return InvalidParameter(name, "it must be a JSON array of strings, like [\"a\",\"b\"]");
  }
  if (parsed.size() > max) {
    return InvalidParameter(name, fmt::format("it takes at most {} items", max));
  }
  for (const auto& item : parsed) {
    if (!item.is_string()) {
      return InvalidParameter(name, "it must be a JSON array of strings, like [\"a\",\"b\"]");
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

ApiResult<std::vector<std::string>> Params::CommaList(std::string_view name, size_t max) {
  auto v = Optional(name);
  std::vector<std::string> out;
  if (!v) return out;
  std::string_view text = *v;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      if (out.size() == max)
        return InvalidParameter(name, fmt::format("it takes at most {} items", max));
      out.emplace_back(item);
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

ApiResult<std::optional<nlohmann::json>> Params::JsonObject(std::string_view name) {
  auto v = Optional(name);
  if (!v) return std::optional<nlohmann::json>();
  auto parsed = nlohmann::json::parse(*v, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return InvalidParameter(name, "it must be a JSON object");
  return std::optional<nlohmann::json>(std::move(parsed));
}

ApiResult<std::map<std::string, std::string>> Params::Tags(std::string_view name) {
  constexpr size_t kMaxTags = 20;
  constexpr size_t kMaxLength = 128;
  TG_API_ASSIGN_OR_RETURN(auto items, StructList(name, {"Key", "Value"}, kMaxTags));
  std::map<std::string, std::string> tags;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string key_name = fmt::format("{}.{}.Key", name, i + 1);
    auto key = items[i].find("Key");
    if (key == items[i].end() || key->second.empty()) return MissingParameter(key_name);
    const std::string& k = key->second;
    if (k.size() > kMaxLength) {
      return InvalidParameter(key_name,
                              fmt::format("a tag key is at most {} characters", kMaxLength));
    }
    // Alibaba reserves these prefixes for its own tags.
    if (StartsWithIgnoringCase(k, "aliyun") || StartsWithIgnoringCase(k, "acs:") ||
        StartsWithIgnoringCase(k, "http://") || StartsWithIgnoringCase(k, "https://")) {
      return InvalidParameter(key_name,
                              "a tag key cannot start with aliyun, acs:, http:// or https://");
    }
    std::string value;
    if (auto v = items[i].find("Value"); v != items[i].end()) value = v->second;
    if (value.size() > kMaxLength) {
      return InvalidParameter(fmt::format("{}.{}.Value", name, i + 1),
                              fmt::format("a tag value is at most {} characters", kMaxLength));
    }
    if (!tags.emplace(k, std::move(value)).second) {
      return InvalidParameter(key_name, fmt::format("the tag key \"{}\" is given twice", k));
    }
  }
  return tags;
}

void Params::Ignore(std::string_view name) {
  used_.insert(std::string(name));
}

void Params::IgnorePrefix(std::string_view prefix) {
  ignored_prefixes_.emplace_back(prefix);
}

ApiStatus Params::Finish() const {
  for (const auto& [name, value] : values_) {
    if (used_.count(name) > 0 || IsCommonParameter(name)) continue;
    bool ignored = std::any_of(ignored_prefixes_.begin(), ignored_prefixes_.end(),
                               [&](const std::string& p) { return name.starts_with(p); });
    if (ignored) continue;
    return InvalidParameter(name, "this action has no such parameter");
  }
  return Ok();
}

}  // namespace tg::api
