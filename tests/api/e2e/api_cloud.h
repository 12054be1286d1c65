// A small cloud for end-to-end API tests: a StorageCluster (etcd, one
// `tiangong server`, N chunkservers) plus `tiangong server` processes that
// serve the API over HTTP and HTTPS on loopback, tenants made with the
// admin CLI, and clients: the official SDKs through tests/api/sdk/call.js,
// and raw or V1-signed HTTP requests written by hand.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/status.h"
#include "storage/storage_cluster.h"
#include "support/test_util.h"

namespace tg::api::e2e {

using Json = nlohmann::json;

// An account and one AccessKey of it, made by `tiangong account create` and
// `tiangong accesskey create`.
struct Tenant {
  std::string name;
  std::string account_id;
  std::string access_key_id;
  std::string access_key_secret;
};

// An HTTP reply read off a socket.
struct HttpReply {
  int status = 0;                              // 0: the server closed without a reply
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  Json json() const { return Json::parse(body, nullptr, false); }
};

class ApiCloud {
 public:
  // Starts the cluster and API server 0 with `api_flags` (e.g.
  // {"--quota-vpcs", "2"}); throws if the API does not answer in time.
  explicit ApiCloud(int chunkservers = 0, std::vector<std::string> api_flags = {});
  ~ApiCloud();

  // One more API server (same etcd, its own flags and ports); its index.
  int AddApiServer(std::vector<std::string> flags);
  // Stops API server i (SIGTERM); its ports then refuse.
  void StopApiServer(int i);
  bool ApiServerRunning(int i);

  uint16_t http_port(int server = 0) const { return servers_.at(server).http_port; }
  uint16_t https_port(int server = 0) const { return servers_.at(server).https_port; }
  std::string endpoint(int server = 0) const;           // "127.0.0.1:PORT" (HTTP)
  std::string https_endpoint(int server = 0) const;     // "127.0.0.1:PORT" (HTTPS)
  const std::string& ca_file() const { return cert_; }  // the HTTPS certificate (PEM)
  std::string ApiLog(int server = 0) const;             // the server's whole log so far

  // `tiangong ARGS... --etcd URL`: its stdout+stderr, or an error with them.
  Result<std::string> Cli(std::vector<std::string> args);
  // `tiangong ARGS...` as given (no --etcd: e.g. `tiangong api`); its
  // output if it exited 0, else an error with the output.
  Result<std::string> Tiangong(std::vector<std::string> args);
  Result<Tenant> CreateTenant(const std::string& name);
  // Another AccessKey of the tenant's account.
  Result<Tenant> CreateKey(const Tenant& tenant);
  Status DisableKey(const std::string& access_key_id);
  // A public pool and a node with the gateway role, so EIPs can be allocated.
  Status EnablePublicSide(const std::string& cidr = "203.0.113.0/28",
                          const std::string& router = "203.0.113.1");

  // One call through call.js (a spec object) or several in one node
  // process (an array of specs); endpoint, keys and (for "https": true) the
  // CA are filled in from `tenant` and API server `server` where the spec
  // lacks them. The answer: {"ok": reply} or {"error": {...}} (an array of
  // them for an array); {"harness_error": why} when node itself failed.
  Json Sdk(const Tenant& tenant, Json spec, int server = 0);
  // Shorthands: pop-core with wire names, and the V3 SDK with model fields.
  Json Pop(const Tenant& t, const std::string& product, const std::string& action,
           Json params = Json::object(), const std::string& method = "GET", int server = 0);
  Json V3(const Tenant& t, const std::string& product, const std::string& action,
          Json params = Json::object(), int server = 0);

  asio::io_context& io() { return io_; }
  tg::testing::StorageCluster& cluster() { return cluster_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  struct Server {
    std::optional<ChildProcess> process;
    std::string log;
    uint16_t http_port = 0;
    uint16_t https_port = 0;
  };

  asio::io_context io_;
  tg::testing::TempDir dir_;
  tg::testing::StorageCluster cluster_;
  std::string cert_, key_;
  std::vector<Server> servers_;
  int runs_ = 0;  // numbering of CLI and node runs' output files
};

// Writes `request` (bytes as they go on the wire) to 127.0.0.1:port and
// reads one reply (by Content-Length or chunks or until the server closes).
Result<HttpReply> RawHttp(uint16_t port, const std::string& request,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The query string of a V1-signed (HMAC-SHA1) call as pop-core builds it:
// `params` plus Format, Version, AccessKeyId, SignatureMethod,
// SignatureVersion, SignatureNonce (a fresh one unless given) and Timestamp
// (`unix_time`, default now), then Signature.
std::string SignedV1Query(const Tenant& tenant, const std::string& method,
                          std::map<std::string, std::string> params,
                          std::optional<int64_t> unix_time = std::nullopt);
// "ecs" → 2014-05-26, "vpc" → 2016-04-28.
std::string VersionOf(const std::string& product);
// GET /?<signed query> of `action` of `product` (Connection: close).
Result<HttpReply> SignedGet(uint16_t port, const Tenant& tenant, const std::string& product,
                            const std::string& action,
                            std::map<std::string, std::string> params = {});

// The Alibaba error code of an SDK answer ("" if it succeeded).
std::string CodeOf(const Json& answer);

}  // namespace tg::api::e2e
