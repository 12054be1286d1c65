#include "api/core/render.h"

#include <string>

namespace tg::api {
namespace {

constexpr std::string_view kJsonType = "application/json;charset=utf-8";
constexpr std::string_view kXmlType = "text/xml;charset=utf-8";
constexpr std::string_view kXmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

// Text content and attribute-safe: the five XML specials escaped, and the
// control characters XML 1.0 cannot carry at all dropped.
void AppendEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out.push_back(c);
    }
  }
}

void AppendXml(std::string& out, const Json& value, std::string_view name) {
  if (value.is_array()) {
    // Alibaba's layout: an array is its items, each under the array's name.
    for (const auto& item : value) AppendXml(out, item, name);
    return;
  }
  if (!name.empty()) out += fmt::format("<{}>", name);
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) AppendXml(out, child, key);
  } else if (value.is_string()) {
    AppendEscaped(out, value.get_ref<const std::string&>());
  } else if (!value.is_null()) {
    AppendEscaped(out, value.dump());
  }
  if (!name.empty()) out += fmt::format("</{}>", name);
}

// Bytes a handler copied from a caller may not be UTF-8; JSON output must be.
std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string ToXml(const Json& value, std::string_view name) {
  std::string out;
  AppendXml(out, value, name);
  return out;
}

HttpResponse RenderSuccess(std::string_view action, std::string_view request_id, Json body,
                           bool xml) {
  Json out = ObjectWithRoom(body.is_object() ? body.size() + 1 : 1);
  out["RequestId"] = std::string(request_id);
  if (body.is_object()) {
    for (auto& [key, value] : body.items()) {
      if (key != "RequestId") out[key] = std::move(value);
    }
  }
  HttpResponse response;
  response.status = 200;
  response.headers["x-acs-request-id"] = std::string(request_id);
  if (xml) {
    response.content_type = std::string(kXmlType);
    response.body = std::string(kXmlDeclaration) + ToXml(out, std::string(action) + "Response");
  } else {
    response.content_type = std::string(kJsonType);
    response.body = DumpJson(out);
  }
  return response;
}

HttpResponse RenderError(const ApiError& error, std::string_view request_id,
                         std::string_view host_id, bool xml) {
  Json out = Json::object();
  out["RequestId"] = std::string(request_id);
  out["HostId"] = std::string(host_id);
  out["Code"] = error.code;
  out["Message"] = error.message;
  out["Recommend"] = "";
  HttpResponse response;
  // An error code always goes with a 4xx/5xx: pop-core and the V3 SDK read
  // a 200 with a Code differently.
  response.status = error.http_status >= 400 && error.http_status <= 599 ? error.http_status : 500;
  response.headers["x-acs-request-id"] = std::string(request_id);
  if (error.code.find("Throttling") != std::string::npos) {
    response.headers["x-acs-retry-after"] = "1000";
  }
  if (xml) {
    response.content_type = std::string(kXmlType);
    response.body = std::string(kXmlDeclaration) + ToXml(out, "Error");
  } else {
    response.content_type = std::string(kJsonType);
    response.body = DumpJson(out);
  }
  return response;
}

}  // namespace tg::api
