// The control-plane role (`tiangong server`, and the server inside `tiangong
// up`): registers this server in etcd and keeps one leader among the servers
// for the controllers (the storage master, the gateway keeper and the compute
// scheduler). Every server, leader or not, serves the HTTP API when asked
// (--api-listen): its state is all in etcd.
#pragma once

#include <string>
#include <vector>

#include "api/serve.h"
#include "base/runtime.h"
#include "compute/scheduler/placement.h"
#include "etcd/client.h"

namespace tg::server {

struct ServerOptions {
  std::vector<std::string> etcd_endpoints = {"http://127.0.0.1:2379"};
  std::string name;  // default: hostname-pid
  int lease_ttl_seconds = 5;
  // The scheduler's CPU and memory overcommit ratios (placement.h).
  compute::PlacementPolicy placement;
  // The HTTP API (api/serve.h); an empty listen address serves none.
  api::ApiServeOptions api;
};

// The election all controllers run under.
inline constexpr const char* kControllerElection = "controllers";
inline constexpr const char* kServersPrefix = "/tiangong/servers/";

// Runs until shutdown is requested. Fails fast (before registering) if etcd
// cannot be reached or the options are out of range.
Task<Status> RunServer(Runtime& runtime, etcd::Client& client, const ServerOptions& options);

}  // namespace tg::server
