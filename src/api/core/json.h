// The response value: a JSON object whose keys keep the order they were
// added in (Alibaba's documents and SDK captures list fields in a fixed
// order; XML rendering needs an order too).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace tg::api {

using Json = nlohmann::ordered_json;

// Alibaba's double wrapping of lists: {"<outer>": {"<inner>": items}}.
// An empty object with room for `members` members. Json's objects keep their
// members in a vector whose elements have const keys, so they cannot be
// moved: each growth copies every member, deeply. Rendering a large reply
// member by member spent most of its time in those copies.
inline Json ObjectWithRoom(size_t members) {
  Json j = Json::object();
  j.get_ref<Json::object_t&>().reserve(members);
  return j;
}

inline Json Wrapped(std::string_view inner, Json items) {
  if (!items.is_array()) items = Json::array();
  Json w = Json::object();
  w[std::string(inner)] = std::move(items);
  return w;
}

// Times as Alibaba writes them: UTC ISO 8601 to the minute for ECS
// ("2017-12-10T04:04Z") and to the second for VPC ("2021-06-01T08:00:00Z").
std::string IsoMinutes(int64_t unix_seconds);
std::string IsoSeconds(int64_t unix_seconds);

}  // namespace tg::api
