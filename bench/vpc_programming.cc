// Programming latency at scale: how long from a change committed in etcd
// until every affected host's vSwitch has applied it. 10,000 interfaces
// (INTERFACES) over 50 simulated hosts (HOSTS): each host is what a
// vSwitch keeps (a mirror of the VPC records, rebuilt into its forwarding
// view on every change), without a datapath. All hosts share this process
// and its one event loop, so a change's rebuilds on 50 hosts run one after
// another here, where each would have its own machine: the report gives
// both the latency as measured and each host's own share (the watch
// delivery plus its own rebuild).
// Ends with: vpc_programming: p50=<ms> p99=<ms> (commit -> applied, own share)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/runtime.h"
#include "etcd/client.h"
#include "etcd/local_etcd.h"
#include "etcd/mirror.h"
#include "network/controller/vpc_store.h"
#include "network/datapath/forwarding.h"

using namespace tg;
using namespace tg::network;

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

uint16_t FreePort() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

size_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

struct Host {
  std::string name;
  std::unique_ptr<etcd::Mirror> mirror;
  HostView view;
  // (revision the view reflects, when it was applied, how long the
  // rebuild took)
  std::vector<std::tuple<int64_t, TimePoint, Duration>> applied;
};

Task<void> Follow(Host& h, Event& stop) {
  Event& changed = h.mirror->changed();
  while (!stop.is_set()) {
    co_await (changed.Wait() || stop.Wait());
    if (stop.is_set()) break;
    changed.Reset();
    const TimePoint start = Clock::now();
    std::vector<etcd::KeyValue> kvs;
    kvs.reserve(h.mirror->kvs().size());
    for (const auto& [k, kv] : h.mirror->kvs()) kvs.push_back(kv);
    auto state = ParseNetworkState(kvs, h.mirror->revision());
    if (!state.ok()) continue;  // the generated records always decode
    h.view = BuildHostView(*state, {}, h.name);
    h.applied.emplace_back(h.mirror->revision(), Clock::now(), Clock::now() - start);
  }
}

double Ms(Duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

Task<Status> Run(Runtime& rt) {
  const int interfaces = EnvInt("INTERFACES", 10000), hosts = EnvInt("HOSTS", 50),
            changes = EnvInt("CHANGES", 30),
            // Far enough apart that one change's 50 rebuilds (serialized
            // here) are done before the next: no backlog in the figures.
      spacing_ms = EnvInt("SPACING_MS", 2000);
  const std::string dir =
      (std::filesystem::temp_directory_path() / fmt::format("tg-vpcprog-{}", getpid())).string();
  // (Named, not braced inside co_await: GCC 12 frees such temporaries twice.)
  etcd::LocalEtcdOptions etcd_options{
      .data_dir = dir, .client_port = FreePort(), .peer_port = FreePort()};
  TG_CO_ASSIGN_OR_RETURN(auto etcd, co_await etcd::LocalEtcd::Start(rt.executor(), etcd_options));
  TG_CO_ASSIGN_OR_RETURN(auto client,
                         etcd::Client::Create(rt.executor(), {.endpoints = {etcd->client_url()}}));
  // The records: one VPC, a /16 vSwitch per host, interfaces spread over
  // the hosts. Written in bulk (64 per transaction).
  const Vpc vpc{.id = "vpc-1", .name = "big", .cidr = *ParseCidr("10.0.0.0/8"), .vni = 1001};
  TG_CO_RETURN_IF_ERROR((co_await client->Put(VpcKey(vpc.id), Encode(vpc))).status());
  for (int h = 0; h < hosts; ++h) {
    const VSwitch s{.id = fmt::format("vsw-{}", h),
                    .vpc_id = vpc.id,
                    .cidr = Cidr{{(10u << 24) | (static_cast<uint32_t>(h) << 16)}, 16},
                    .zone = "z1"};
    TG_CO_RETURN_IF_ERROR((co_await client->Put(VSwitchKey(s.id), Encode(s))).status());
  }
  auto eni = [&](int n) {
    const int h = n % hosts;
    return NetworkInterface{.id = fmt::format("eni-{}", n),
                            .vswitch_id = fmt::format("vsw-{}", h),
                            .vpc_id = vpc.id,
                            .mac = MacFromNumber(static_cast<uint64_t>(n)),
                            .ip = {(10u << 24) | (static_cast<uint32_t>(h) << 16) |
                                   static_cast<uint32_t>(n / hosts + 1)},
                            .host = fmt::format("host-{}", h)};
  };
  for (int start = 0; start < interfaces; start += 64) {
    etcd::Txn txn;
    for (int n = start; n < std::min(interfaces, start + 64); ++n) {
      const NetworkInterface e = eni(n);
      txn.then.push_back(etcd::TxnOp::Put(InterfaceKey(e.id), Encode(e)));
    }
    TG_CO_RETURN_IF_ERROR((co_await client->Commit(std::move(txn))).status());
  }
  // The hosts.
  const size_t rss_before = RssBytes();
  Event stop(rt.executor());
  std::vector<std::unique_ptr<Host>> sim;
  TaskGroup tasks(rt.executor());
  for (int h = 0; h < hosts; ++h) {
    auto host = std::make_unique<Host>();
    host->name = fmt::format("host-{}", h);
    host->mirror = std::make_unique<etcd::Mirror>(*client, std::string(kNetworkPrefix));
    tasks.Spawn("mirror", host->mirror->Run());
    tasks.Spawn("follow", Follow(*host, stop));
    sim.push_back(std::move(host));
  }
  for (auto& h : sim) {
    while (h->applied.empty()) co_await SleepFor(std::chrono::milliseconds(20));
  }
  const double per_host_mib = static_cast<double>(RssBytes() - rss_before) / hosts / (1 << 20);
  // The changes: a new interface on one host, every SPACING_MS. Every host of
  // the VPC is affected (each learns where the new address lives).
  std::vector<std::pair<int64_t, TimePoint>> committed;
  for (int c = 0; c < changes; ++c) {
    const NetworkInterface e = eni(interfaces + c);
    // Timed from before the request: the watch may deliver the change (and
    // the hosts, sharing this loop, apply it) before the put's own reply is
    // read, so the reply's time can come after the applications.
    const TimePoint sent = Clock::now();
    auto put = co_await client->Put(InterfaceKey(e.id), Encode(e));
    TG_CO_RETURN_IF_ERROR(put.status());
    committed.emplace_back(put->revision, sent);
    co_await SleepFor(std::chrono::milliseconds(spacing_ms));
  }
  co_await SleepFor(std::chrono::seconds(2));
  std::vector<double> measured, own, rebuild;
  for (const auto& [revision, at] : committed) {
    for (const auto& h : sim) {
      for (const auto& [rev, when, took] : h->applied) {
        if (rev < revision) continue;
        measured.push_back(Ms(when - at));
        rebuild.push_back(Ms(took));
        break;
      }
    }
  }
  // A host's own share: the watch's delivery to the first host to see the
  // change, plus its own rebuild (what it would be with a machine each).
  for (const auto& [revision, at] : committed) {
    TimePoint first = TimePoint::max();
    for (const auto& h : sim)
      for (const auto& [rev, when, took] : h->applied)
        if (rev >= revision) {
          first = std::min(first, when - took);
          break;
        }
    for (const auto& h : sim)
      for (const auto& [rev, when, took] : h->applied)
        if (rev >= revision) {
          own.push_back(Ms(first - at) + Ms(took));
          break;
        }
  }
  stop.Set();
  tasks.CancelAll();
  co_await tasks.Join();
  (void)etcd->Stop();
  std::filesystem::remove_all(dir);
  fmt::print("{} interfaces, {} hosts, {} changes ({} host applications)\n", interfaces, hosts,
             changes, measured.size());
  fmt::print(
      "commit -> applied, as measured ({} hosts on one event loop): p50={:.1f} ms "
      "p99={:.1f} ms max={:.1f} ms\n",
      hosts, Percentile(measured, 0.5), Percentile(measured, 0.99), Percentile(measured, 1.0));
  fmt::print("one host's rebuild of its view: p50={:.1f} ms p99={:.1f} ms\n",
             Percentile(rebuild, 0.5), Percentile(rebuild, 0.99));
  fmt::print("per-host state (mirror + view): {:.1f} MiB\n", per_host_mib);
  fmt::print("vpc_programming: p50={:.1f} p99={:.1f} (ms, commit -> applied, a host's own share)\n",
             Percentile(own, 0.5), Percentile(own, 0.99));
  co_return Status::Ok();
}

}  // namespace

int main() {
  Runtime rt;
  Status s = rt.Run([&] { return Run(rt); });
  if (!s.ok()) {
    fmt::print(stderr, "vpc_programming: {}\n", s);
    return 1;
  }
  return 0;
}
