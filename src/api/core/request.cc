#include "api/core/request.h"

#include <algorithm>
#include <cctype>

namespace tg::api {
namespace {

// Limits on what one call may carry: generous for real calls (UserData is
// up to ~44 KiB of base64), small enough that a hostile one cannot make the
// frontend hold much.
constexpr size_t kMaxParameters = 1000;
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxValueBytes = 128 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && StartsWithIgnoringCase(a, b);
}

// A parameter's value, else the header's (the V3 SDK sends Action and
// Version only as x-acs-* headers).
std::string ParamOrHeader(const std::map<std::string, std::string>& params,
                          const std::map<std::string, std::string>& headers,
                          const std::string& param, const std::string& header) {
  if (auto it = params.find(param); it != params.end() && !it->second.empty()) return it->second;
  if (auto it = headers.find(header); it != headers.end()) return it->second;
  return "";
}

}  // namespace

std::string_view ProductName(Product p) {
  return p == Product::kEcs ? "Ecs" : "Vpc";
}

ApiResult<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Error(400, "InvalidParameter",
                     fmt::format("The request has a malformed percent escape at offset {}.", i));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

ApiStatus ParseQueryString(std::string_view text, std::map<std::string, std::string>& out) {
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    TG_API_ASSIGN_OR_RETURN(std::string name, PercentDecode(raw_name));
    TG_API_ASSIGN_OR_RETURN(std::string value, PercentDecode(raw_value));
    if (name.empty())
      return Error(400, "InvalidParameter", "The request has a parameter without a name.");
    if (name.size() > kMaxNameBytes) {
      return Error(
          400, "InvalidParameter",
          fmt::format("The request has a parameter name longer than {} bytes.", kMaxNameBytes));
    }
    if (value.size() > kMaxValueBytes) {
      return InvalidParameter(name,
                              fmt::format("the value is longer than {} bytes", kMaxValueBytes));
    }
    if (out.count(name) > 0) return InvalidParameter(name, "the parameter is given more than once");
    if (out.size() == kMaxParameters) {
      return Error(400, "InvalidParameter",
                   fmt::format("The request has more than {} parameters.", kMaxParameters));
    }
    out.emplace(std::move(name), std::move(value));
  }
  return Ok();
}

ApiResult<RpcCall> ReadRpcCall(const HttpRequest& request) {
  RpcCall call;
  std::string_view target = request.target;
  if (size_t hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);
  size_t question = target.find('?');
  // assign with an explicit length: GCC 12 -O2 misjudges substr(0, npos)'s.
  call.path.assign(target.data(), std::min(question, target.size()));
  if (call.path.empty()) call.path = "/";
  if (question != std::string_view::npos) {
    TG_API_RETURN_IF_ERROR(ParseQueryString(target.substr(question + 1), call.query));
  }

  std::map<std::string, std::string> merged = call.query;
  auto content_type = request.headers.find("content-type");
  if (content_type != request.headers.end() &&
      StartsWithIgnoringCase(content_type->second, "application/x-www-form-urlencoded")) {
    // Into the same map, so a name in both the query and the form is refused.
    TG_API_RETURN_IF_ERROR(ParseQueryString(request.body, merged));
  }

  call.action = ParamOrHeader(merged, request.headers, "Action", "x-acs-action");
  if (call.action.empty()) return MissingParameter("Action");
  if (call.action.size() > 128 || !std::all_of(call.action.begin(), call.action.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0;
      })) {
    return InvalidParameter("Action", "an action name is letters and digits");
  }
  call.version = ParamOrHeader(merged, request.headers, "Version", "x-acs-version");
  if (call.version.empty()) return MissingParameter("Version");
  // The two products' versions differ, so the version alone names the product
  // (DescribeRegions exists in both, each under its own version).
  if (call.version == kEcsVersion) {
    call.product = Product::kEcs;
  } else if (call.version == kVpcVersion) {
    call.product = Product::kVpc;
  } else {
    return Error(400, "NoSuchVersion", "Specified parameter Version is not valid.");
  }

  if (auto format = merged.find("Format"); format != merged.end() && !format->second.empty()) {
    if (EqualsIgnoringCase(format->second, "XML")) {
      call.xml = true;
    } else if (!EqualsIgnoringCase(format->second, "JSON")) {
      return InvalidParameter("Format", "it must be JSON or XML");
    }
  }
  call.params = Params(std::move(merged));
  return call;
}

}  // namespace tg::api
