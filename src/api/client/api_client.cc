#include "api/client/api_client.h"

#include <fmt/format.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <random>

#include "api/auth/signature.h"
#include "base/asio.h"

namespace tg::api {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

namespace {

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
};

Result<Endpoint> ParseEndpoint(std::string_view url) {
  Endpoint e;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    e.tls = true;
  } else {
    return InvalidArgument("endpoint '{}' must start with http:// or https://", url);
  }
  if (auto slash = url.find('/'); slash != std::string_view::npos) url = url.substr(0, slash);
  size_t colon = url.rfind(':');
  if (!url.empty() && url.front() == '[') {  // [v6]:port
    size_t close = url.find(']');
    if (close == std::string_view::npos) return InvalidArgument("endpoint: bad IPv6 address");
    e.host = std::string(url.substr(1, close - 1));
    colon = url.find(':', close);
  } else {
    e.host = std::string(url.substr(0, colon));
  }
  e.port =
      colon == std::string_view::npos ? (e.tls ? "443" : "80") : std::string(url.substr(colon + 1));
  if (e.host.empty()) return InvalidArgument("endpoint has no host");
  return e;
}

std::string Timestamp() {
  const time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Nonce() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

std::string FormEncode(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += PercentEncode(k) + "=" + PercentEncode(v);
  }
  return out;
}

template <typename Stream>
Result<ApiReply> Exchange(Stream& stream, http::request<http::string_body>& req) {
  beast::error_code ec;
  http::write(stream, req, ec);
  if (ec) return Unavailable("sending the request: {}", ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  http::read(stream, buffer, parser, ec);
  if (ec) return Unavailable("reading the reply: {}", ec.message());
  auto res = parser.release();
  return ApiReply{.status = static_cast<int>(res.result_int()), .body = std::move(res.body())};
}

}  // namespace

Result<std::string> ProductVersion(std::string_view product) {
  std::string p(product);
  for (char& c : p) c = static_cast<char>(tolower(c));
  if (p == "ecs") return std::string("2014-05-26");
  if (p == "vpc") return std::string("2016-04-28");
  return InvalidArgument("unknown product '{}' (ecs or vpc)", product);
}

Result<ApiReply> CallApi(const ApiClientOptions& options, const ApiCall& call) {
  TG_ASSIGN_OR_RETURN(Endpoint e, ParseEndpoint(options.endpoint));
  std::map<std::string, std::string> params = call.params;
  params["Action"] = call.action;
  params["Version"] = call.version;
  params["Format"] = "JSON";
  params["AccessKeyId"] = options.access_key_id;
  params["SignatureMethod"] = std::string(kV1Method);
  params["SignatureVersion"] = std::string(kV1Version);
  params["SignatureNonce"] = Nonce();
  params["Timestamp"] = Timestamp();
  params["Signature"] =
      SignV1(call.post ? "POST" : "GET", params, options.access_key_secret).signature;

  http::request<http::string_body> req;
  req.version(11);
  req.set(http::field::host, e.host + ":" + e.port);
  req.set(http::field::user_agent, "tiangong-cli");
  req.set(http::field::connection, "close");
  if (call.post) {
    req.method(http::verb::post);
    req.target("/");
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    req.body() = FormEncode(params);
  } else {
    req.method(http::verb::get);
    req.target("/?" + FormEncode(params));
  }
  req.prepare_payload();

  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::error_code ec;
    auto addresses = resolver.resolve(e.host, e.port, ec);
    if (ec) return Unavailable("resolving {}: {}", e.host, ec.message());
    const auto deadline = std::chrono::seconds(options.timeout_seconds);
    if (!e.tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(deadline);
      stream.connect(addresses, ec);
      if (ec) return Unavailable("connecting to {}: {}", options.endpoint, ec.message());
      return Exchange(stream, req);
    }
    ssl::context ctx(ssl::context::tls_client);
    if (options.insecure) {
      ctx.set_verify_mode(ssl::verify_none);
    } else {
      ctx.set_verify_mode(ssl::verify_peer);
      if (!options.ca_file.empty())
        ctx.load_verify_file(options.ca_file);
      else
        ctx.set_default_verify_paths();
    }
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    if (!options.insecure) {
      stream.set_verify_callback(ssl::host_name_verification(e.host));
      SSL_set_tlsext_host_name(stream.native_handle(), e.host.c_str());
    }
    beast::get_lowest_layer(stream).expires_after(deadline);
    beast::get_lowest_layer(stream).connect(addresses, ec);
    if (ec) return Unavailable("connecting to {}: {}", options.endpoint, ec.message());
    stream.handshake(ssl::stream_base::client, ec);
    if (ec) return Unavailable("TLS handshake with {}: {}", options.endpoint, ec.message());
    return Exchange(stream, req);
  } catch (const std::exception& ex) {
    return Unavailable("calling {}: {}", options.endpoint, ex.what());
  }
}

}  // namespace tg::api
