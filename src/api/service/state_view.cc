#include "api/service/state_view.h"

#include <ranges>

#include "api/service/registry.h"
#include "compute/model/records.h"
#include "network/model/vpc.h"

namespace tg::api {

namespace {

// Parses the copy again only when it changed since the last parse.
template <typename State, typename ParseFn>
void Refresh(const etcd::Mirror& mirror, StateView::Parsed<State>& parsed, ParseFn parse) {
  if (parsed.revision == mirror.revision()) return;
  Result<State> state = parse(mirror.kvs(), mirror.revision());
  parsed.revision = mirror.revision();
  parsed.error = state.ok() ? Status::Ok() : state.status();
  parsed.state = state.ok() ? std::make_shared<const State>(*std::move(state)) : nullptr;
}

}  // namespace

StateView::StateView(etcd::Client& client)
    : compute_(client, std::string(compute::kComputePrefix)),
      network_(client, std::string(network::kNetworkPrefix)),
      resources_(client, std::string(kResourcesPrefix)) {}

void StateView::Start(TaskGroup& tasks) {
  tasks.Spawn("API compute mirror", compute_.Run());
  tasks.Spawn("API network mirror", network_.Run());
  tasks.Spawn("API ownership mirror", resources_.Run());
}

Task<ApiResult<std::shared_ptr<const compute::ComputeState>>> StateView::Compute() {
  const Status current = co_await CatchUp(compute_);
  if (!current.ok()) co_return FromStatus(current);
  Refresh(compute_, compute_parsed_,
          [](const auto& kvs, int64_t r) { return compute::ParseComputeState(kvs, r); });
  if (!compute_parsed_.error.ok()) co_return FromStatus(compute_parsed_.error);
  co_return compute_parsed_.state;
}

Task<ApiResult<std::shared_ptr<const network::NetworkState>>> StateView::Network() {
  const Status current = co_await CatchUp(network_);
  if (!current.ok()) co_return FromStatus(current);
  Refresh(network_, network_parsed_, [](const auto& kvs, int64_t r) {
    return network::ParseNetworkState(kvs | std::views::values, r);
  });
  if (!network_parsed_.error.ok()) co_return FromStatus(network_parsed_.error);
  co_return network_parsed_.state;
}

Task<Status> CatchUp(etcd::Mirror& mirror) {
  const bool current = co_await mirror.CatchUp(StateView::kCatchUpTimeout);
  if (!current) co_return Unavailable("the API's copy of the records is not current");
  co_return Status::Ok();
}

}  // namespace tg::api
