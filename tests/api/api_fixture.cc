#include "api_fixture.h"

namespace tg::api::testing {

ApiTest::ApiTest(int chunkservers)
    : cluster_(io_, 1, chunkservers),
      volumes_(cluster_.client()),
      vpcs_(cluster_.client()),
      state_(cluster_.client()),
      mirrors_(io_.get_executor()),
      registry_(cluster_.client(), state_.resources()),
      table_(BuildActionTable()) {
  state_.Start(mirrors_);
  compute::ComputeStoreOptions options{.work_dir = dir_.path()};
  compute_ = std::make_unique<compute::ComputeStore>(cluster_.client(), volumes_, vpcs_, options);
  settings_.work_dir = dir_.path();
  settings_.import_dirs = {dir_.path()};
  services_ = std::make_unique<Services>(
      Services{cluster_.client(), volumes_, vpcs_, *compute_, registry_, state_, settings_});
}

ApiTest::~ApiTest() {
  mirrors_.CancelAll();
  RunTask(io_, mirrors_.Close());
}

Task<bool> ApiTest::Ready() {
  if (co_await cluster_.WaitForLeader(30s) < 0) co_return false;
  Status s = co_await cluster_.WaitRegistered(30s);
  EXPECT_TRUE(s.ok()) << s;
  co_return s.ok();
}

Task<ApiResult<Json>> ApiTest::Call(Product product, std::string action, Params params,
                                    const Account* account) {
  const ActionSpec* spec = table_.Find(product, action);
  if (!spec) co_return Error(404, "InvalidAction.NotFound", "no such action: " + action);
  api::Params p(std::move(params));
  auto prepared = spec->prepare(p);
  if (!prepared.ok()) co_return prepared.error();
  CallContext ctx{*services_, account ? *account : a_, "LTAItest", "test-request",
                  static_cast<int64_t>(time(nullptr))};
  co_return co_await (*prepared)(ctx);
}

}  // namespace tg::api::testing
