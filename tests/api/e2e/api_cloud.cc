#include "api_cloud.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "api/auth/signature.h"
#include "api/http/self_signed.h"
#include "network/controller/vpc_store.h"
#include "network/model/address.h"
#include "network/model/gateway.h"

#ifndef TG_API_SDK_DIR
#error "TG_API_SDK_DIR must name the source tree's tests/api/sdk"
#endif

namespace tg::api::e2e {

using namespace std::chrono_literals;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs argv to its end (at most `timeout`), output to `log`; the output and
// whether it exited 0.
Result<std::string> RunToEnd(std::vector<std::string> argv, const std::string& log,
                             Duration timeout) {
  auto p = ChildProcess::Spawn({.argv = std::move(argv), .output_path = log});
  if (!p.ok()) return p.status();
  auto st = p->Wait(timeout);
  if (!st.ok()) return st.status();
  std::string out = ReadFile(log);
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return Internal("{}: {}", DescribeWaitStatus(*st), out);
  return out;
}

// The first JSON object in `text` (the CLI prints one, after any log lines).
Json FirstObject(const std::string& text) {
  const auto at = text.find('{');
  if (at == std::string::npos) return Json();
  return Json::parse(text.substr(at), nullptr, false);
}

std::string Iso8601(int64_t unix_time) {
  const time_t t = static_cast<time_t>(unix_time);
  tm utc{};
  gmtime_r(&t, &utc);
  char out[32];
  strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return out;
}

std::string NewNonce() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

}  // namespace

ApiCloud::ApiCloud(int chunkservers, std::vector<std::string> api_flags)
    : cluster_(io_, 1, chunkservers) {
  cert_ = dir_.path() + "/api-cert.pem";
  key_ = dir_.path() + "/api-key.pem";
  Status s = WriteSelfSignedCertificate(cert_, key_, {"127.0.0.1", "localhost"}, 30);
  if (!s.ok()) throw std::runtime_error(s.ToString());
  AddApiServer(std::move(api_flags));
}

ApiCloud::~ApiCloud() {
  for (auto& s : servers_) {
    if (s.process) (void)s.process->Stop(5s);
  }
  if (::testing::Test::HasFailure()) {
    for (size_t i = 0; i < servers_.size(); ++i) {
      std::string log = ReadFile(servers_[i].log);
      if (log.size() > 6000) log = "..." + log.substr(log.size() - 6000);
      fmt::print(stderr, "---- end of API server {}'s log\n{}\n", i, log);
    }
  }
}

int ApiCloud::AddApiServer(std::vector<std::string> flags) {
  const int i = static_cast<int>(servers_.size());
  Server server;
  server.log = fmt::format("{}/api{}.log", dir_.path(), i);
  std::vector<std::string> argv{tg::testing::TiangongBinary(),
                                "server",
                                "--etcd",
                                cluster_.etcd_url(),
                                "--name",
                                fmt::format("api{}", i),
                                "--lease-ttl",
                                "2",
                                "--api-listen",
                                "127.0.0.1:0",
                                "--api-tls-listen",
                                "127.0.0.1:0",
                                "--api-tls-cert",
                                cert_,
                                "--api-tls-key",
                                key_};
  argv.insert(argv.end(), flags.begin(), flags.end());
  auto p = ChildProcess::Spawn({.argv = argv, .output_path = server.log});
  if (!p.ok()) throw std::runtime_error(p.status().ToString());
  server.process = std::move(*p);

  // The ports the server chose, from its "API listening on ... port N (HTTP)" lines.
  static const std::regex listening(R"(API listening on \S+ port (\d+) \((HTTPS?)\))");
  const auto deadline = Clock::now() + 90s;
  while (server.http_port == 0 || server.https_port == 0) {
    if (Clock::now() > deadline || !server.process->running()) {
      throw std::runtime_error(
          fmt::format("API server {} did not start listening: {}", i, ReadFile(server.log)));
    }
    const std::string log = ReadFile(server.log);
    for (std::sregex_iterator m(log.begin(), log.end(), listening), end; m != end; ++m) {
      const auto port = static_cast<uint16_t>(std::stoi((*m)[1]));
      ((*m)[2] == "HTTPS" ? server.https_port : server.http_port) = port;
    }
    if (server.http_port == 0 || server.https_port == 0) std::this_thread::sleep_for(50ms);
  }
  servers_.push_back(std::move(server));
  // Listening is not answering: until an unsigned request gets an API error.
  while (true) {
    auto reply = RawHttp(servers_[i].http_port,
                         "GET /?Action=DescribeRegions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Connection: close\r\n\r\n",
                         5s);
    if (reply.ok() && reply->status >= 400 && reply->json().contains("Code")) break;
    if (Clock::now() > deadline)
      throw std::runtime_error(fmt::format("API server {} does not answer", i));
    std::this_thread::sleep_for(100ms);
  }
  return i;
}

void ApiCloud::StopApiServer(int i) {
  if (servers_.at(i).process) (void)servers_[i].process->Stop(10s);
  servers_[i].process.reset();
}

bool ApiCloud::ApiServerRunning(int i) {
  return servers_.at(i).process && servers_[i].process->running();
}

std::string ApiCloud::endpoint(int server) const {
  return fmt::format("127.0.0.1:{}", http_port(server));
}

std::string ApiCloud::https_endpoint(int server) const {
  return fmt::format("127.0.0.1:{}", https_port(server));
}

std::string ApiCloud::ApiLog(int server) const {
  return ReadFile(servers_.at(server).log);
}

Result<std::string> ApiCloud::Cli(std::vector<std::string> args) {
  std::vector<std::string> argv{tg::testing::TiangongBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--etcd");
  argv.push_back(cluster_.etcd_url());
  return RunToEnd(argv, fmt::format("{}/cli{}.out", dir_.path(), runs_++), 60s);
}

namespace {

// The admin CLI under ASan sometimes fails at exit, after it has done its
// work and printed its record (a use-after-free in the etcd client's
// teardown, not in the API): the record is then taken, and the failure is
// shown, so that it is seen but does not fail a test about the API.
Result<Json> CliRecord(Result<std::string> out, const std::string& what, const char* field) {
  std::string text = out.ok() ? *out : out.status().message();
  Json j = FirstObject(
      text.substr(0, text.find("\n}") == std::string::npos ? text.size() : text.find("\n}") + 2));
  if (!j.is_object() || !j.contains(field)) return Internal("{}: {}", what, text);
  if (!out.ok()) fmt::print(stderr, "WARNING: {} exited non-zero after printing: {}\n", what, text);
  return j;
}

}  // namespace

Result<std::string> ApiCloud::Tiangong(std::vector<std::string> args) {
  std::vector<std::string> argv{tg::testing::TiangongBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunToEnd(argv, fmt::format("{}/cli{}.out", dir_.path(), runs_++), 60s);
}

Result<Tenant> ApiCloud::CreateTenant(const std::string& name) {
  Tenant t{.name = name};
  TG_ASSIGN_OR_RETURN(Json a,
                      CliRecord(Cli({"account", "create", name}), "account create", "AccountId"));
  t.account_id = a["AccountId"];
  TG_ASSIGN_OR_RETURN(
      Json k, CliRecord(Cli({"accesskey", "create", name}), "accesskey create", "AccessKeySecret"));
  t.access_key_id = k["AccessKeyId"];
  t.access_key_secret = k["AccessKeySecret"];
  return t;
}

Result<Tenant> ApiCloud::CreateKey(const Tenant& tenant) {
  Tenant t = tenant;
  TG_ASSIGN_OR_RETURN(Json k, CliRecord(Cli({"accesskey", "create", tenant.account_id}),
                                        "accesskey create", "AccessKeySecret"));
  t.access_key_id = k["AccessKeyId"];
  t.access_key_secret = k["AccessKeySecret"];
  return t;
}

Status ApiCloud::DisableKey(const std::string& access_key_id) {
  return Cli({"accesskey", "disable", access_key_id}).status();
}

Status ApiCloud::EnablePublicSide(const std::string& cidr, const std::string& router) {
  auto parsed_cidr = network::ParseCidr(cidr);
  auto parsed_router = network::ParseIpv4(router);
  if (!parsed_cidr.ok()) return parsed_cidr.status();
  if (!parsed_router.ok()) return parsed_router.status();
  network::VpcStore vpcs(cluster_.client());
  network::PublicPool pool{.cidr = *parsed_cidr, .router = *parsed_router};
  auto put = tg::testing::RunTask(
      io_, cluster_.client().Put(std::string(network::kGatewayHostsPrefix) + "gw1", "up0"));
  if (!put.ok()) return put.status();
  return tg::testing::RunTask(io_, vpcs.SetPublicPool(pool));
}

Json ApiCloud::Sdk(const Tenant& tenant, Json spec, int server) {
  const bool many = spec.is_array();
  if (!many) spec = Json::array({spec});
  for (Json& s : spec) {
    const bool https = s.value("https", false);
    if (!s.contains("endpoint")) s["endpoint"] = https ? https_endpoint(server) : endpoint(server);
    if (https && !s.contains("ca")) s["ca"] = cert_;
    if (!s.contains("accessKeyId")) s["accessKeyId"] = tenant.access_key_id;
    if (!s.contains("accessKeySecret")) s["accessKeySecret"] = tenant.access_key_secret;
  }
  // Through a file on stdin: an argument is limited to 128 KiB.
  const int run = runs_++;
  const std::string input = fmt::format("{}/sdk{}.json", dir_.path(), run);
  const std::string output = fmt::format("{}/sdk{}.out", dir_.path(), run);
  std::ofstream(input) << spec.dump();
  auto out = RunToEnd({"/bin/sh", "-c", "exec node \"$0\" < \"$1\"",
                       std::string(TG_API_SDK_DIR) + "/call.js", input},
                      output, 300s);
  if (!out.ok()) return Json{{"harness_error", out.status().ToString()}};
  // The answer is the last line (node may warn before it).
  std::string text = *out;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const auto nl = text.rfind('\n');
  Json answer = Json::parse(nl == std::string::npos ? text : text.substr(nl + 1), nullptr, false);
  if (answer.is_discarded()) return Json{{"harness_error", "not JSON: " + *out}};
  return many ? answer : answer[0];
}

Json ApiCloud::Pop(const Tenant& t, const std::string& product, const std::string& action,
                   Json params, const std::string& method, int server) {
  return Sdk(t,
             {{"sdk", "pop"},
              {"product", product},
              {"action", action},
              {"params", params},
              {"method", method}},
             server);
}

Json ApiCloud::V3(const Tenant& t, const std::string& product, const std::string& action,
                  Json params, int server) {
  return Sdk(t, {{"sdk", "v3"}, {"product", product}, {"action", action}, {"params", params}},
             server);
}

Result<HttpReply> RawHttp(uint16_t port, const std::string& request,
                          std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "socket");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return ErrnoStatus(errno, fmt::format("connect to port {}", port));
  const auto deadline = Clock::now() + timeout;
  auto wait = [&](short events) -> Status {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return DeadlineExceeded("no reply in time");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n == 0) return DeadlineExceeded("no reply in time");
    return Status::Ok();
  };
  // Written in pieces: a server may answer (and close) before it has all of
  // a too-large request, which is a reply, not a failure.
  size_t sent = 0;
  while (sent < request.size()) {
    TG_RETURN_IF_ERROR(wait(POLLOUT));
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  HttpReply reply;
  size_t header_end = std::string::npos;
  std::optional<size_t> length;
  bool chunked = false;
  while (true) {
    if (header_end != std::string::npos) {
      const std::string_view body = std::string_view(in).substr(header_end + 4);
      if (length && body.size() >= *length) {
        reply.body = std::string(body.substr(0, *length));
        return reply;
      }
      if (chunked && body.find("\r\n0\r\n\r\n") != std::string_view::npos) break;
    }
    TG_RETURN_IF_ERROR(wait(POLLIN));
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // closed (or reset)
    in.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos &&
        (header_end = in.find("\r\n\r\n")) != std::string::npos) {
      std::istringstream head(in.substr(0, header_end));
      std::string line, version;
      std::getline(head, line);
      std::istringstream(line) >> version >> reply.status;
      while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon), value = line.substr(colon + 1);
        for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        value.erase(0, value.find_first_not_of(' '));
        reply.headers[name] = value;
      }
      if (auto it = reply.headers.find("content-length"); it != reply.headers.end())
        length = std::stoul(it->second);
      if (auto it = reply.headers.find("transfer-encoding");
          it != reply.headers.end() && it->second.find("chunked") != std::string::npos) {
        chunked = true;
      }
    }
  }
  if (header_end == std::string::npos) return reply;  // status 0: no reply
  std::string body = in.substr(header_end + 4);
  if (chunked) {
    std::string joined;
    size_t at = 0;
    while (at < body.size()) {
      const auto eol = body.find("\r\n", at);
      if (eol == std::string::npos) break;
      const size_t size = std::stoul(body.substr(at, eol - at), nullptr, 16);
      if (size == 0) break;
      joined += body.substr(eol + 2, size);
      at = eol + 2 + size + 2;
    }
    body = joined;
  }
  reply.body = body;
  return reply;
}

std::string VersionOf(const std::string& product) {
  return product == "vpc" ? "2016-04-28" : "2014-05-26";
}

std::string SignedV1Query(const Tenant& tenant, const std::string& method,
                          std::map<std::string, std::string> params,
                          std::optional<int64_t> unix_time) {
  params.emplace("Format", "JSON");
  params.emplace("AccessKeyId", tenant.access_key_id);
  params.emplace("SignatureMethod", std::string(kV1Method));
  params.emplace("SignatureVersion", std::string(kV1Version));
  params.emplace("SignatureNonce", NewNonce());
  params.emplace("Timestamp", Iso8601(unix_time.value_or(time(nullptr))));
  const V1Signature signature = SignV1(method, params, tenant.access_key_secret);
  params["Signature"] = signature.signature;
  std::string query;
  for (const auto& [name, value] : params) {
    if (!query.empty()) query += '&';
    query += PercentEncode(name) + "=" + PercentEncode(value);
  }
  return query;
}

Result<HttpReply> SignedGet(uint16_t port, const Tenant& tenant, const std::string& product,
                            const std::string& action, std::map<std::string, std::string> params) {
  params.emplace("Action", action);
  params.emplace("Version", VersionOf(product));
  const std::string query = SignedV1Query(tenant, "GET", std::move(params));
  return RawHttp(
      port,
      fmt::format("GET /?{} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", query));
}

std::string CodeOf(const Json& answer) {
  if (answer.contains("ok")) return "";
  if (answer.contains("error") && answer["error"].contains("code") &&
      answer["error"]["code"].is_string()) {
    return answer["error"]["code"];
  }
  return answer.dump();
}

}  // namespace tg::api::e2e
