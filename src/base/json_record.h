// Records kept as JSON (in etcd): decoding that turns any parse, type or
// value error into InvalidArgument naming the record, so that a malformed
// record is reported, never trusted.
//
// Every record carries a format version ("format"); one without it is format 1
// (records written before versions existed). A record of a newer format than
// this binary knows is refused (FailedPrecondition), never read as an older one:
// a field this binary does not know could change what the record means.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tg {

// The newest record format this binary reads and the one it writes.
inline constexpr int kRecordFormat = 1;
inline constexpr std::string_view kRecordFormatField = "format";

// Stamps a record about to be encoded with the format this binary writes.
inline void StampRecordFormat(nlohmann::json& j) {
  j[kRecordFormatField] = kRecordFormat;
}

// Records hold integers only: a fractional number, or one too large for any
// integer (parsed as floating point), would be cut or overflow (undefined
// behaviour) when read into an integer field. Walked without recursion: a
// record may nest deeply.
inline bool HoldsFloat(const nlohmann::json& j) {
  std::vector<const nlohmann::json*> pending{&j};
  while (!pending.empty()) {
    const nlohmann::json* v = pending.back();
    pending.pop_back();
    if (v->is_number_float()) return true;
    if (v->is_structured())
      for (const auto& e : *v) pending.push_back(&e);
  }
  return false;
}

// Parses `text` and runs `fill(json, T&)` on it.
template <typename T, typename Fill>
Result<T> DecodeJsonRecord(std::string_view text, std::string_view what, Fill fill) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("{} record is not JSON", what);
  if (HoldsFloat(j))
    return InvalidArgument("{} record holds a number that is not an integer", what);
  if (auto f = j.find(kRecordFormatField); f != j.end()) {
    if (!f->is_number_integer() || f->get<int64_t>() < 1) {
      return InvalidArgument("{} record: format is not a positive integer", what);
    }
    if (f->get<int64_t>() > kRecordFormat) {
      return FailedPrecondition(
          "{} record is format {}, newer than this binary reads ({}): upgrade this binary", what,
          f->get<int64_t>(), kRecordFormat);
    }
  }
  try {
    T v;
    fill(j, v);
    return v;
  } catch (const std::exception& e) {
    return InvalidArgument("{} record: {}", what, e.what());
  }
}

// Inside a fill: the parsed value, or a throw that DecodeJsonRecord reports.
template <typename T>
T ValueOrThrow(Result<T> r) {
  if (!r.ok()) throw std::invalid_argument(r.status().message());
  return *std::move(r);
}

}  // namespace tg
