// What the metadata service (100.100.100.200) answers, as the vSwitch asks
// for it: an instance is named by the interface its port serves, never by
// an address its frames claim. Implemented by the compute side, which
// knows the records; the network knows nothing of instances.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tg::network {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  // The answer to a GET of `path` (as the request line had it) from the
  // guest behind interface `eni_id`; nullopt: not found (404).
  virtual std::optional<HttpResponse> Lookup(std::string_view eni_id, std::string_view path) = 0;
};

}  // namespace tg::network
