// A request's parameters (query and form merged, names case-sensitive as
// Alibaba's are) and the typed reads a handler parses them with. Every read
// marks its name used; after parsing, Finish() refuses any parameter no
// read asked for (InvalidParameter naming it), except the common ones every
// action accepts (signature fields, RegionId, OwnerId, ...), so a typo in a
// parameter name is an error, never silently ignored.
//
// The four list encodings of the wire (docs/api.md):
//   A  Name.1, Name.2, ... (and Name.N.Field for lists of structs)
//   B  a JSON array in one value: InstanceIds=["i-1","i-2"]
//   C  comma-separated text: VpcId=vpc-1,vpc-2
//   D  a JSON object in one value: AccessMode={"ModeValue":"route"}
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/core/error.h"

namespace tg::api {

// Parameters every action takes and ignores (or that the frontend has
// already read): signature and protocol fields, the region, the owner
// noise the SDKs send.
bool IsCommonParameter(std::string_view name);

class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  const std::map<std::string, std::string>& values() const { return values_; }
  bool Has(std::string_view name) const;

  // A scalar: MissingParameter if absent or empty.
  ApiResult<std::string> Required(std::string_view name);
  // A scalar, or nullopt when absent (an empty value counts as absent, as
  // Alibaba's SDKs never send an empty optional).
  std::optional<std::string> Optional(std::string_view name);
  std::string OptionalOr(std::string_view name, std::string fallback);
  // Decimal integers in [min, max]; InvalidParameter otherwise.
  ApiResult<std::optional<int64_t>> Int(std::string_view name, int64_t min, int64_t max);
  ApiResult<int64_t> RequiredInt(std::string_view name, int64_t min, int64_t max);
  // "true"/"false" (any case); InvalidParameter otherwise.
  ApiResult<std::optional<bool>> Bool(std::string_view name);
  // One of `allowed` (compared ignoring case; the allowed spelling is
  // returned); InvalidParameter listing them otherwise.
  ApiResult<std::optional<std::string>> Enum(std::string_view name,
                                             std::vector<std::string_view> allowed);
  // At most `max_length` bytes of printable ASCII (ClientToken and ids).
  ApiResult<std::optional<std::string>> Ascii(std::string_view name, size_t max_length);

  // List A of scalars: Name.1 .. Name.N, numbered from 1 without gaps, at
  // most `max` (InvalidParameter otherwise).
  ApiResult<std::vector<std::string>> ListA(std::string_view name, size_t max);
  // List A of structs: Name.N.Field for fields in `fields` (another field is
  // InvalidParameter); each element holds the fields it was given.
  using Struct = std::map<std::string, std::string>;
  ApiResult<std::vector<Struct>> StructList(std::string_view name,
                                            const std::set<std::string>& fields, size_t max);
  // A struct given flat: Name.Field (SystemDisk.Size).
  ApiResult<Struct> Dotted(std::string_view name, const std::set<std::string>& fields);
  // List B: a JSON array of strings, at most `max`.
  ApiResult<std::vector<std::string>> JsonArray(std::string_view name, size_t max);
  // List C: comma-separated, empty items dropped, at most `max`.
  ApiResult<std::vector<std::string>> CommaList(std::string_view name, size_t max);
  // List D: a JSON object.
  ApiResult<std::optional<nlohmann::json>> JsonObject(std::string_view name);
  // Tag.N.Key / Tag.N.Value (at most 20; keys non-empty, unique).
  ApiResult<std::map<std::string, std::string>> Tags(std::string_view name = "Tag");

  // Accepted and ignored (a parameter the SDKs or Terraform send that
  // changes nothing here), and every name starting with `prefix`.
  void Ignore(std::string_view name);
  void IgnorePrefix(std::string_view prefix);
  // InvalidParameter naming the first parameter nothing read or ignored.
  ApiStatus Finish() const;

 private:
  const std::string* Find(std::string_view name);

  std::map<std::string, std::string> values_;
  std::set<std::string, std::less<>> used_;
  std::vector<std::string> ignored_prefixes_;
};

}  // namespace tg::api
