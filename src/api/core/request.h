// One HTTP request as the API sees it, and how its RPC call is read out of
// it: the parameters of the query and of a form body merged (a name given
// twice, or in both, is InvalidParameter), the action and version from the
// parameters or the x-acs-action / x-acs-version headers, and the product
// from the version (ECS 2014-05-26, VPC 2016-04-28) or, when a version is
// both's (DescribeRegions), from the host name ("vpc..." is VPC).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "api/core/error.h"
#include "api/core/params.h"

namespace tg::api {

enum class Product { kEcs, kVpc };
std::string_view ProductName(Product p);  // "Ecs", "Vpc"
inline constexpr std::string_view kEcsVersion = "2014-05-26";
inline constexpr std::string_view kVpcVersion = "2016-04-28";

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // path and query as sent ("/?Action=...")
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string peer;  // the client's address, for logs
  bool tls = false;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json;charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;  // extra ones (x-acs-request-id, ...)
};

// Percent-decoding of a query or form component ('+' is a space in both).
// InvalidParameter on a bad escape.
ApiResult<std::string> PercentDecode(std::string_view text);
// "a=1&b=2" into `out`; a repeated name is InvalidParameter.
ApiStatus ParseQueryString(std::string_view text, std::map<std::string, std::string>& out);

struct RpcCall {
  Product product = Product::kEcs;
  std::string action;
  std::string version;
  std::string path;                          // the target's path ("/")
  std::map<std::string, std::string> query;  // decoded query parameters only
  Params params;                             // query and form merged
  bool xml = false;                          // Format=XML
};

// The call in `request`: MissingParameter Action/Version, NoSuchVersion
// (400) for a version that is neither product's, InvalidParameter for a
// malformed query or form body.
ApiResult<RpcCall> ReadRpcCall(const HttpRequest& request);

}  // namespace tg::api
