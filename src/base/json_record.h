// Records kept as JSON (in etcd): decoding that turns any parse, type or
// value error into InvalidArgument naming the record, so that a malformed
// record is reported, never trusted.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

#include "base/status.h"

namespace tg {

// Parses `text` and runs `fill(json, T&)` on it.
template <typename T, typename Fill>
Result<T> DecodeJsonRecord(std::string_view text, std::string_view what, Fill fill) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("{} record is not JSON", what);
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
