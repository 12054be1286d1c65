// ImportImage's download of an image file from an http:// or https:// URL
// (there is no OSS here): one GET, no redirects, a 200 answer's body
// written to a file, at most `max_bytes`, within `timeout`. https verifies
// the server against the system's trust store and its host name. Unless
// `allow_private`, addresses a tenant must not reach through the server
// (loopback, private, link-local, shared, multicast) are refused; the
// connection goes to the very addresses that were checked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/asio.h"
#include "base/status.h"

namespace tg::api {

struct HttpUrl {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string target;  // path and query, "/" at least
};

// InvalidArgument unless `url` is http(s)://host[:port][/path], no user info.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct DownloadOptions {
  uint64_t max_bytes = uint64_t{64} << 30;
  Duration timeout = std::chrono::hours(1);
  bool allow_private = false;
};

// The body into `path` (created or truncated); on failure `path` may hold
// part of it (the caller removes it).
Task<Status> DownloadUrl(HttpUrl url, std::string path, DownloadOptions options);

}  // namespace tg::api
