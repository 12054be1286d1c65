// The fixture of handler tests: a real storage cluster (etcd, one server,
// `chunkservers` chunkservers) and the stores, registry and action table a
// `tiangong server` builds, with actions called straight through the table
// as two accounts (no HTTP, no signature: those have tests of their own).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "api/service/action_table.h"
#include "api/service/context.h"
#include "api/service/registry.h"
#include "compute/store/compute_store.h"
#include "network/controller/vpc_store.h"
#include "storage/control/volume_store.h"
#include "storage/storage_cluster.h"
#include "support/test_util.h"

namespace tg::api::testing {

using Params = std::map<std::string, std::string>;
using tg::testing::RunTask;

class ApiTest : public ::testing::Test {
 protected:
  explicit ApiTest(int chunkservers = 0);
  ~ApiTest() override;

  // Until the controllers lead and every chunkserver has registered.
  Task<bool> Ready();
  // The action as `account` (default: account A), parsed and run through
  // the table as the endpoint does (no DryRun, no ClientToken handling).
  Task<ApiResult<Json>> Call(Product product, std::string action, Params params,
                             const Account* account = nullptr);
  Task<ApiResult<Json>> Ecs(std::string action, Params params, const Account* as = nullptr) {
    return Call(Product::kEcs, std::move(action), std::move(params), as);
  }
  Task<ApiResult<Json>> Vpc(std::string action, Params params, const Account* as = nullptr) {
    return Call(Product::kVpc, std::move(action), std::move(params), as);
  }
  etcd::Client& client() { return cluster_.client(); }

  asio::io_context io_;
  tg::testing::TempDir dir_;
  tg::testing::StorageCluster cluster_;
  storage::VolumeStore volumes_;
  network::VpcStore vpcs_;
  std::unique_ptr<compute::ComputeStore> compute_;
  StateView state_;
  TaskGroup mirrors_;  // state_'s, run while the test runs io_
  Registry registry_;
  ApiSettings settings_;
  std::unique_ptr<Services> services_;
  ActionTable table_;
  Account a_{.id = "acc-aaaaaaaaaaaaaaaaaaaa", .name = "alice"};
  Account b_{.id = "acc-bbbbbbbbbbbbbbbbbbbb", .name = "bob"};
};

// The error's code, or "" when the call succeeded (for EXPECT_EQ).
inline std::string CodeOf(const ApiResult<Json>& r) {
  return r.ok() ? "" : r.error().code;
}

}  // namespace tg::api::testing

// Fails the test (inside a coroutine) unless the call succeeded; `r` is
// evaluated once.
#define CO_ASSERT_API_OK(r)                                                                \
  do {                                                                                     \
    const auto& api_result_ = (r);                                                         \
    if (!api_result_.ok()) {                                                               \
      ADD_FAILURE() << api_result_.error().code << " (" << api_result_.error().http_status \
                    << "): " << api_result_.error().message;                               \
      co_return;                                                                           \
    }                                                                                      \
  } while (0)

// co_await ECS("Action", {{"Param", "v"}}): GCC 12 refuses a braced list as
// an argument inside a co_await expression ("array used as initializer"),
// so the call is made in a plain lambda and only its task is awaited.
#define ECS(...) ([&] { return Ecs(__VA_ARGS__); }())
#define VPC(...) ([&] { return Vpc(__VA_ARGS__); }())
