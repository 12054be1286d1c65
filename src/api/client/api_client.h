// A signed client of the API (and of Alibaba Cloud's): one RPC call over
// HTTP or HTTPS, signed with signature V1 (HMAC-SHA1) as pop-core and the
// aliyun CLI sign, by GET (parameters in the query) or POST (a form body).
// Blocking: the CLI and the benchmark's load threads use it.
#pragma once

#include <map>
#include <string>

#include "base/status.h"

namespace tg::api {

struct ApiClientOptions {
  std::string endpoint;  // "http://host:port" or "https://host:port"
  std::string access_key_id;
  std::string access_key_secret;
  std::string ca_file;    // HTTPS: trust this certificate (e.g. tiangong up's)
  bool insecure = false;  // HTTPS without verifying the server
  int timeout_seconds = 30;
};

struct ApiCall {
  std::string version;  // "2014-05-26" (ECS) or "2016-04-28" (VPC)
  std::string action;
  std::map<std::string, std::string> params;
  bool post = false;
};

struct ApiReply {
  int status = 0;
  std::string body;
};

// The call's reply, whatever its status; an error only if no reply came.
Result<ApiReply> CallApi(const ApiClientOptions& options, const ApiCall& call);

// The version of a product named as the aliyun CLI names it ("ecs", "vpc").
Result<std::string> ProductVersion(std::string_view product);

}  // namespace tg::api
