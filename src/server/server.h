// The control-plane role (`tiangong server`, and the server inside `tiangong
// up`): registers this server in etcd and keeps one leader among the servers
// for the controllers (today: the storage master and the gateway keeper; the
// scheduler runs under it as it lands).
#pragma once

#include <string>
#include <vector>

#include "base/runtime.h"
#include "etcd/client.h"

namespace tg::server {

struct ServerOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string name;  // default: hostname-pid
  int lease_ttl_seconds = 5;
};

// The election all controllers run under.
inline constexpr const char* kControllerElection = "controllers";
inline constexpr const char* kServersPrefix = "/tiangong/servers/";

// Runs until shutdown is requested. Fails fast (before registering) if etcd
// cannot be reached.
Task<Status> RunServer(Runtime& runtime, etcd::Client& client, const ServerOptions& options);

}  // namespace tg::server
