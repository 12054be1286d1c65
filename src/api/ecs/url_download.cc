#include "api/ecs/url_download.h"

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>
#include <vector>

namespace tg::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

// What a tenant may make the server fetch: public unicast addresses only.
bool IsPublic(const asio::ip::address& a) {
  if (a.is_loopback() || a.is_multicast() || a.is_unspecified()) return false;
  if (a.is_v6()) {
    const auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) return IsPublic(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    const auto b = v6.to_bytes();
    if (v6.is_link_local() || v6.is_site_local()) return false;
    if ((b[0] & 0xfe) == 0xfc) return false;  // unique local fc00::/7
    return true;
  }
  const uint32_t v = a.to_v4().to_uint();
  const auto in = [v](uint32_t net, int bits) {
    return (v >> (32 - bits)) == (net >> (32 - bits));
  };
  return !(in(0x0A000000, 8) || in(0xAC100000, 12) || in(0xC0A80000, 16) || in(0xA9FE0000, 16) ||
           in(0x64400000, 10) || in(0x00000000, 8) || in(0xF0000000, 4));
}

template <typename Stream>
Task<Status> Fetch(Stream& stream, const HttpUrl& url, const std::string& path,
                   const DownloadOptions& options) {
  http::request<http::empty_body> request{http::verb::get, url.target, 11};
  request.set(http::field::host, url.host);
  request.set(http::field::user_agent, "tiangong-image-import");
  auto [wec, written] =
      co_await http::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  (void)written;
  if (wec) co_return Unavailable("sending the request to {}: {}", url.host, wec.message());
  http::response_parser<http::file_body> parser;
  parser.body_limit(options.max_bytes);
  beast::error_code fec;
  parser.get().body().open(path.c_str(), beast::file_mode::write, fec);
  if (fec) co_return Internal("opening {}: {}", path, fec.message());
  beast::flat_buffer buffer;
  auto [hec, header_bytes] =
      co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)header_bytes;
  if (hec) co_return Unavailable("reading the answer of {}: {}", url.host, hec.message());
  const unsigned status = parser.get().result_int();
  if (status != 200)
    co_return InvalidArgument("GET {}{} answered HTTP {} (only 200 is taken; no redirects)",
                              url.host, url.target, status);
  auto [rec, body_bytes] =
      co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)body_bytes;
  if (rec == http::error::body_limit)
    co_return InvalidArgument("the image at {} is larger than {} bytes", url.host,
                              options.max_bytes);
  if (rec) co_return Unavailable("downloading from {}: {}", url.host, rec.message());
  parser.get().body().file().close(fec);
  if (fec) co_return Internal("writing {}: {}", path, fec.message());
  co_return Status::Ok();
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  HttpUrl u;
  if (url.size() > 2048) return InvalidArgument("the URL is longer than 2048 characters");
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return InvalidArgument("the URL holds a space or a control character");
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
    u.port = "80";
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    u.tls = true;
    u.port = "443";
  } else {
    return InvalidArgument("only http:// and https:// URLs are fetched");
  }
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  if (const size_t hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);
  u.target = target.empty()            ? "/"
             : target.starts_with('?') ? "/" + std::string(target)
                                       : std::string(target);
  if (authority.find('@') != std::string_view::npos)
    return InvalidArgument("the URL must not hold user information");
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("the URL's IPv6 host is unclosed");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return InvalidArgument("the URL's host is malformed");
      port = after.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host.size() > 253) return InvalidArgument("the URL has no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
      return InvalidArgument("the URL's port is not 1-65535");
    u.port = std::string(port);
  }
  u.host = std::string(host);
  return u;
}

Task<Status> DownloadUrl(HttpUrl url, std::string path, DownloadOptions options) {
  Executor ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, results] =
      co_await resolver.async_resolve(url.host, url.port, asio::as_tuple(asio::use_awaitable));
  if (rec) co_return Unavailable("resolving {}: {}", url.host, rec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& r : results)
    if (options.allow_private || IsPublic(r.endpoint().address()))
      endpoints.push_back(r.endpoint());
  if (endpoints.empty()) co_return InvalidArgument("{} is no public address: refused", url.host);
  beast::tcp_stream tcp_stream(ex);
  tcp_stream.expires_after(options.timeout);
  auto [cec, connected] =
      co_await tcp_stream.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  (void)connected;
  if (cec) co_return Unavailable("connecting to {}: {}", url.host, cec.message());
  if (!url.tls) {
    Status s = co_await Fetch(tcp_stream, url, path, options);
    beast::error_code ignored;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return s;
  }
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  tls.set_verify_mode(asio::ssl::verify_peer);
  tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
  beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), tls);
  if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
    co_return Internal("setting the TLS server name {}", url.host);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                               asio::as_tuple(asio::use_awaitable));
  if (hec) co_return Unavailable("TLS with {}: {}", url.host, hec.message());
  Status s = co_await Fetch(stream, url, path, options);
  auto [sec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  (void)sec;  // many servers just close
  co_return s;
}

}  // namespace tg::api
