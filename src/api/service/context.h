// What an action runs with: the stores it acts through (the same ones the
// admin CLI uses), the registry of ownership, the mirrored records it reads,
// the server's settings, and the caller (its account, already authenticated).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/service/registry.h"
#include "api/service/state_view.h"
#include "compute/store/compute_store.h"
#include "etcd/client.h"
#include "network/controller/vpc_store.h"
#include "storage/control/volume_store.h"

namespace tg::api {

// Per-account limits (tiangong server --api-quota-*); 0: none. Exceeding
// one is QuotaExceed.* (ECS, 403) or QuotaExceeded.* (VPC, 400).
struct Quotas {
  size_t instances = 100;
  size_t disks = 200;
  size_t snapshots = 200;
  size_t images = 50;
  size_t security_groups = 100;
  size_t vpcs = 10;
  size_t vswitches = 150;
  size_t eips = 20;
};

struct ApiSettings {
  std::string region = "cn-tiangong";  // the one region this cloud is
  std::string region_name = "Tiangong";
  // The endpoint DescribeRegions reports (host[:port] clients reach us at).
  std::string endpoint = "127.0.0.1";
  Quotas quotas;
  // Where ImportImage may read files from (paths the server can read);
  // empty: local files are refused, only http(s) URLs.
  std::vector<std::string> import_dirs;
  std::string work_dir;  // scratch space for downloads
  // ImportImage may fetch from loopback, private and link-local addresses
  // (tests, a private mirror); off: a tenant cannot make the server fetch
  // what only it can reach.
  bool import_private_urls = false;
};

struct Services {
  etcd::Client& etcd;
  storage::VolumeStore& volumes;
  network::VpcStore& vpcs;
  compute::ComputeStore& compute;
  Registry& registry;
  StateView& state;  // what calls read to show and check (mirrored)
  const ApiSettings& settings;
};

struct Account {
  std::string id;  // "acc-..."; resources are keyed by it
  std::string name;
  bool admin = false;
};

struct CallContext {
  Services& services;
  Account account;
  std::string access_key_id;
  std::string request_id;
  int64_t now = 0;  // unix seconds, when the call arrived
};

}  // namespace tg::api
