#include "etcd/local_etcd.h"

#include <filesystem>

#include "base/log.h"

namespace tg::etcd {

namespace {
std::string Url(uint16_t port) {
  return fmt::format("http://127.0.0.1:{}", port);
}
}  // namespace

Result<std::unique_ptr<LocalEtcd>> LocalEtcd::Launch(LocalEtcdOptions o) {
  if (o.data_dir.empty()) return InvalidArgument("local etcd needs a data directory");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(o.data_dir).parent_path(), ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory for " + o.data_dir);
  if (o.log_path.empty()) o.log_path = o.data_dir + ".log";
  std::string cluster = o.initial_cluster.empty() ? fmt::format("{}={}", o.name, Url(o.peer_port))
                                                  : o.initial_cluster;
  std::string listen = Url(o.client_port);
  if (!o.extra_client_host.empty()) {
    listen += fmt::format(",http://{}:{}", o.extra_client_host, o.client_port);
  }
  SpawnOptions spawn{
      .argv = {o.binary, "--name", o.name, "--data-dir", o.data_dir, "--listen-client-urls", listen,
               "--advertise-client-urls", Url(o.client_port), "--listen-peer-urls",
               Url(o.peer_port), "--initial-advertise-peer-urls", Url(o.peer_port),
               "--initial-cluster", cluster, "--initial-cluster-state",
               o.join_existing ? "existing" : "new", "--initial-cluster-token", "tiangong",
               // Keep a week of history for watchers to resume from, and no more.
               "--auto-compaction-mode", "periodic", "--auto-compaction-retention", "168h"},
      .output_path = o.log_path};
  TG_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(spawn));
  log::Get("etcd")->info("started local etcd pid={} name={} client={} data={} log={}", child.pid(),
                         o.name, Url(o.client_port), o.data_dir, o.log_path);
  return std::unique_ptr<LocalEtcd>(new LocalEtcd(std::move(o), std::move(child)));
}

Task<Result<std::unique_ptr<LocalEtcd>>> LocalEtcd::Start(Executor ex, LocalEtcdOptions options,
                                                          Duration timeout) {
  TG_CO_ASSIGN_OR_RETURN(auto etcd, Launch(std::move(options)));
  TG_CO_RETURN_IF_ERROR(co_await etcd->WaitReady(ex, timeout));
  co_return etcd;
}

LocalEtcd::~LocalEtcd() {
  if (process_.running()) Stop().IgnoreError();
}

std::string LocalEtcd::client_url() const {
  return Url(options_.client_port);
}

Task<Status> LocalEtcd::WaitReady(Executor ex, Duration timeout) {
  auto client = Client::Create(
      ex, ClientOptions{.endpoints = {client_url()},
                        .request_timeout = 2s,
                        .retry = {.backoff = {.initial = 50ms, .max = 500ms}, .budget = 1s}});
  if (!client.ok()) co_return client.status();
  const TimePoint deadline = Clock::now() + timeout;
  Status last;
  while (Clock::now() < deadline) {
    if (!process_.running()) {
      auto st = process_.Wait(0s);
      co_return Unavailable("etcd {} {} before it served; see {}", options_.name,
                            st.ok() ? DescribeWaitStatus(*st) : "exited", options_.log_path);
    }
    last = co_await (*client)->CheckReachable(1s);
    if (last.ok()) co_return Status::Ok();
    co_await SleepFor(100ms);
  }
  co_return DeadlineExceeded("etcd {} not ready after {} s: {} (see {})", options_.name,
                             std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                             last.message(), options_.log_path);
}

Status LocalEtcd::Stop(Duration grace) {
  auto st = process_.Stop(grace);
  if (!st.ok()) return st.status();
  log::Get("etcd")->info("local etcd stopped name={} {}", options_.name, DescribeWaitStatus(*st));
  return Status::Ok();
}

}  // namespace tg::etcd
