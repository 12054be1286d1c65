#include "api/serve.h"

#include <unistd.h>

#include "api/service/action_table.h"
#include "api/service/endpoint.h"
#include "api/service/idempotency.h"
#include "api/service/registry.h"
#include "api/service/state_view.h"
#include "base/log.h"
#include "compute/store/compute_store.h"
#include "network/controller/vpc_store.h"
#include "storage/control/volume_store.h"

namespace tg::api {

namespace {

auto Log() {
  static auto log = log::Get("api");
  return log;
}

std::string HostId() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

Task<Status> ServeApi(etcd::Client& client, const ApiServeOptions& options, Event& stop,
                      std::function<void(uint16_t, uint16_t)> on_ready) {
  storage::VolumeStore volumes(client);
  network::VpcStore vpcs(client);
  compute::ComputeStore compute(
      client, volumes, vpcs, {.qemu_img = options.qemu_img, .work_dir = options.settings.work_dir});
  auto executor = co_await asio::this_coro::executor;
  TaskGroup tasks(executor);
  StateView state(client);  // started once the frontends are listening
  Registry registry(client, state.resources());
  Services services{client, volumes, vpcs, compute, registry, state, options.settings};
  const ActionTable table = BuildActionTable();
  AccountStore accounts(client);
  Authenticator authenticator(client, accounts, options.auth);
  Throttle throttle(options.throttle);
  Idempotency idempotency(client);
  ApiEndpoint endpoint(
      services, table,
      [&](const HttpRequest& request, const RpcCall& call, int64_t now) {
        return authenticator.Authenticate(request, call, now);
      },
      [&](const std::string& access_key_id) {
        return throttle.Take(access_key_id, std::chrono::steady_clock::now());
      },
      idempotency, HostId());

  const HttpHandler handler = [&](HttpRequest request) {
    return endpoint.Handle(std::move(request));
  };
  std::vector<std::unique_ptr<HttpServer>> servers;
  uint16_t ports[2] = {0, 0};
  for (bool tls : {false, true}) {
    HttpServerOptions http = options.http;
    http.tls_cert = http.tls_key = "";
    if (tls) {
      if (options.tls_listen.empty()) continue;
      http.listen = options.tls_listen;
      http.tls_cert = options.tls_cert;
      http.tls_key = options.tls_key;
      if (http.tls_cert.empty() || http.tls_key.empty())
        co_return InvalidArgument("HTTPS on {} needs a certificate and a key", http.listen);
    } else if (http.listen.empty()) {
      continue;
    }
    auto server = HttpServer::Create(executor, http, handler);
    if (!server.ok()) {
      for (auto& s : servers) co_await s->Stop();
      co_return server.status().Annotate("API");
    }
    ports[tls] = (*server)->port();
    Log()->info("API listening on {} port {} ({}), {} actions, region {}", http.listen,
                (*server)->port(), tls ? "HTTPS" : "HTTP", table.size(), options.settings.region);
    servers.push_back(std::move(*server));
  }
  if (servers.empty()) co_return InvalidArgument("the API has no address to listen on");
  if (on_ready) on_ready(ports[0], ports[1]);
  state.Start(tasks);
  for (auto& s : servers) tasks.Spawn("API frontend", s->Run());
  co_await stop.Wait();
  for (auto& s : servers) co_await s->Stop();
  tasks.CancelAll();  // the mirrors
  co_await tasks.Close();
  co_return Status::Ok();
}

}  // namespace tg::api
