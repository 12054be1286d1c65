// The scheduler in real `tiangong server` processes against a real etcd.
// The test plays the nodes (their records on a lease of its own) and the
// store (Pending, unbound instance records put directly; no volumes or
// interfaces are needed to be scheduled).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "base/process.h"
#include "compute/model/records.h"
#include "compute/scheduler/placement.h"
#include "etcd/election.h"
#include "etcd/watch.h"
#include "support/etcd_fixture.h"

namespace tg::compute {
namespace {

using testing::RunTask;

constexpr Duration kTimeout = 60s;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class SchedulerTest : public testing::EtcdFixture {
 protected:
  void SetUp() override {
    EtcdFixture::SetUp();
    if (HasFatalFailure()) return;
    // Long enough for the whole test: nothing keeps it alive.
    auto lease = RunTask(io_, client_->GrantLease(600s));
    ASSERT_TRUE(lease.ok()) << lease.status();
    lease_ = lease->id;
  }
  void TearDown() override {
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (servers_[i]) (void)servers_[i]->Stop(5s);
      if (HasFailure()) fmt::print(stderr, "---- server{}:\n{}\n", i, ReadFile(ServerLog(i)));
    }
    servers_.clear();
    if (lease_) (void)RunTask(io_, client_->RevokeLease(lease_));
    EtcdFixture::TearDown();
  }

  std::string ServerLog(size_t i) const { return fmt::format("{}/server{}.log", dir_.path(), i); }

  void StartServer(size_t i, std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {
        testing::TiangongBinary(),  "server",      "--etcd", cluster_->urls()[0], "--name",
        fmt::format("server{}", i), "--lease-ttl", "2"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto p = ChildProcess::Spawn({.argv = argv, .output_path = ServerLog(i)});
    ASSERT_TRUE(p.ok()) << p.status();
    if (servers_.size() <= i) servers_.resize(i + 1);
    servers_[i] = std::make_unique<ChildProcess>(std::move(*p));
  }
  void KillServer(size_t i) {
    (void)servers_[i]->Signal(SIGKILL);
    (void)servers_[i]->Wait(10s);
    servers_[i].reset();
  }
  // Until server i's log has `text` (after `from` bytes), or the deadline.
  bool WaitForLog(size_t i, const std::string& text, size_t from = 0) {
    const TimePoint deadline = Clock::now() + kTimeout;
    while (Clock::now() < deadline) {
      const std::string log = ReadFile(ServerLog(i));
      if (log.size() > from && log.find(text, from) != std::string::npos) return true;
      RunTask(io_, [&]() -> Task<void> { co_await SleepFor(50ms); }());
    }
    return false;
  }

  void PutNode(const std::string& name, uint32_t vcpus, uint64_t memory_mib,
               const std::string& host, const std::string& zone = "z1") {
    ComputeNode n{.name = name, .capacity = {vcpus, memory_mib}, .zone = zone, .host = host};
    ASSERT_OK(RunTask(io_, client_->Put(NodeKey(name), EncodeComputeNode(n), {.lease = lease_}))
                  .status());
  }
  static Instance MakeInstance(const std::string& id, uint32_t vcpus, uint64_t memory_mib,
                               const std::string& set = "") {
    Instance i;
    i.id = id;
    i.type = "ecs.test";
    i.resources = {vcpus, memory_mib};
    i.image = "m-test";
    i.zone = "z1";
    i.deployment_set = set;
    i.created_at = 1700000000;
    return i;
  }
  // Puts the record; its revision.
  int64_t PutInstance(const Instance& i) {
    auto r = RunTask(io_, client_->Put(InstanceKey(i.id), EncodeInstance(i)));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->revision : 0;
  }
  // Every record under `prefix`, decoded, by its name.
  template <typename T>
  Result<std::map<std::string, T>> ReadAll(std::string_view prefix,
                                           Result<T> (*decode)(std::string_view),
                                           std::string T::*name) {
    TG_ASSIGN_OR_RETURN(auto got,
                        RunTask(io_, client_->Get(std::string(prefix), {.prefix = true})));
    std::map<std::string, T> out;
    for (const auto& kv : got.kvs) {
      TG_ASSIGN_OR_RETURN(T v, decode(kv.value));
      std::string key = v.*name;
      out[std::move(key)] = std::move(v);
    }
    return out;
  }
  Result<std::map<std::string, Instance>> Instances() {
    return ReadAll(kInstancesPrefix, DecodeInstance, &Instance::id);
  }
  Result<std::map<std::string, NodeAllocation>> Allocations() {
    return ReadAll(kAllocationsPrefix, DecodeNodeAllocation, &NodeAllocation::node);
  }
  // Until `done` holds for the instances, or the deadline; the last read.
  std::map<std::string, Instance> WaitInstances(
      const std::function<bool(const std::map<std::string, Instance>&)>& done,
      Duration timeout = kTimeout) {
    const TimePoint deadline = Clock::now() + timeout;
    std::map<std::string, Instance> last;
    while (Clock::now() < deadline) {
      auto got = Instances();
      if (got.ok()) {
        last = *got;
        if (done(last)) return last;
      }
      RunTask(io_, [&]() -> Task<void> { co_await SleepFor(50ms); }());
    }
    ADD_FAILURE() << "instances did not reach the expected state in time";
    return last;
  }
  static size_t CountBound(const std::map<std::string, Instance>& is) {
    size_t n = 0;
    for (const auto& [id, i] : is) n += i.host.empty() ? 0 : 1;
    return n;
  }

  testing::TempDir dir_;
  etcd::LeaseId lease_ = 0;
  std::vector<std::unique_ptr<ChildProcess>> servers_;
};

TEST_F(SchedulerTest, DeploymentSetLandsOnDistinctHosts) {
  // Two big nodes share machine h1: spreading alone would put two members
  // there.
  PutNode("node-a", 16, 16384, "h1");
  PutNode("node-a2", 16, 16384, "h1");
  PutNode("node-b", 2, 2048, "h2");
  PutNode("node-c", 2, 2048, "h3");
  DeploymentSet ds{.id = "ds-spread", .name = "spread", .domain = "host", .created_at = 1};
  ASSERT_OK(RunTask(io_, client_->Put(DeploymentSetKey(ds.id), EncodeDeploymentSet(ds))).status());
  StartServer(0);
  for (int i = 0; i < 3; ++i) PutInstance(MakeInstance(fmt::format("i-ds{}", i), 1, 1024, ds.id));
  auto is = WaitInstances([](const auto& is) { return CountBound(is) == 3; });
  std::set<std::string> hosts;
  std::map<std::string, std::string> host_of = {
      {"node-a", "h1"}, {"node-a2", "h1"}, {"node-b", "h2"}, {"node-c", "h3"}};
  for (const auto& [id, i] : is) {
    EXPECT_EQ(i.status, InstanceStatus::kPending) << id;  // the agent moves it on
    EXPECT_EQ(i.status_reason, "") << id;
    hosts.insert(host_of[i.host]);
  }
  EXPECT_EQ(hosts, (std::set<std::string>{"h1", "h2", "h3"}));
}

TEST_F(SchedulerTest, TypeThatFitsNowhereStaysPendingWithAReason) {
  PutNode("node-a", 4, 4096, "h1");
  StartServer(0, {"--cpu-overcommit", "1"});
  PutInstance(MakeInstance("i-huge", 64, 1024));
  PutInstance(MakeInstance("i-small", 1, 1024));
  auto is = WaitInstances([](const auto& is) {
    // The reason follows the node's use: it is final once i-small is bound.
    return is.size() == 2 && !is.at("i-small").host.empty() &&
           is.at("i-huge").status_reason.find("node-a 1/4 vCPUs") != std::string::npos;
  });
  ASSERT_EQ(is.size(), 2u);
  const Instance& huge = is.at("i-huge");
  EXPECT_EQ(huge.host, "");
  EXPECT_EQ(huge.status, InstanceStatus::kPending);
  // The flag's ratio is the limit the reason shows (4 vCPUs at 1x).
  EXPECT_NE(huge.status_reason.find("no node in zone z1 has 64 vCPUs"), std::string::npos)
      << huge.status_reason;
  EXPECT_NE(huge.status_reason.find("node-a 1/4 vCPUs"), std::string::npos) << huge.status_reason;
  // The one that fits was not held up behind it.
  EXPECT_EQ(is.at("i-small").host, "node-a");
}

TEST_F(SchedulerTest, EveryInstanceBoundOnceAcrossALeaderKill) {
  // 5 nodes of 2 vCPUs (4 at 2x) and 4 GiB: exactly room for 20 instances
  // of 1 vCPU and 1 GiB, so one over-commit would leave an instance out.
  const PlacementPolicy policy{.cpu_overcommit = 2.0, .memory_overcommit = 1.0};
  std::map<std::string, ComputeNode> nodes;
  for (int n = 0; n < 5; ++n) {
    const std::string name = fmt::format("node-{}", n);
    PutNode(name, 2, 4096, fmt::format("h{}", n));
    nodes[name] = {.name = name, .capacity = {2, 4096}};
  }
  const std::vector<std::string> flags = {"--cpu-overcommit", "2", "--memory-overcommit", "1"};
  StartServer(0, flags);
  ASSERT_TRUE(WaitForLog(0, "compute scheduler leading"));
  StartServer(1, flags);
  // The standby is queued behind the leader before anything is created.
  const TimePoint queued_by = Clock::now() + kTimeout;
  for (;;) {
    auto c = RunTask(io_, client_->Get(etcd::Election::Prefix("controllers"),
                                       {.prefix = true, .count_only = true}));
    if (c.ok() && c->count == 2) break;
    ASSERT_LT(Clock::now(), queued_by) << "the standby never campaigned";
    RunTask(io_, [&]() -> Task<void> { co_await SleepFor(50ms); }());
  }
  auto start = RunTask(io_, client_->Get("/", {.count_only = true}));
  ASSERT_TRUE(start.ok()) << start.status();

  // 20 creates, 10 at a time; the leader is killed as soon as the first
  // bind shows, while the first burst is being scheduled.
  auto burst = [&](int first) {
    int done = 0;
    for (int i = first; i < first + 10; ++i) {
      asio::co_spawn(
          io_,
          [](etcd::Client& c, Instance inst) -> Task<void> {
            auto r = co_await c.Put(InstanceKey(inst.id), EncodeInstance(inst));
            EXPECT_TRUE(r.ok()) << r.status();
          }(*client_, MakeInstance(fmt::format("i-race{:02}", i), 1, 1024)),
          [&](std::exception_ptr) { ++done; });
    }
    io_.restart();
    while (done < 10) io_.run_one();
  };
  burst(0);
  const size_t bound_at_kill =
      CountBound(WaitInstances([](const auto& is) { return CountBound(is) >= 1; }));
  KillServer(0);
  fmt::print("killed the leader with {} of 10 instances bound\n", bound_at_kill);
  burst(10);
  auto is = WaitInstances([](const auto& is) { return is.size() == 20 && CountBound(is) == 20; });
  ASSERT_EQ(CountBound(is), 20u);
  EXPECT_TRUE(WaitForLog(1, "compute scheduler leading"));

  // Allocations match the hosts, and stay within capacity x ratio.
  auto allocs = Allocations();
  ASSERT_TRUE(allocs.ok()) << allocs.status();
  std::map<std::string, std::set<std::string>> by_node;
  for (const auto& [id, i] : is) by_node[i.host].insert(id);
  for (const auto& [name, node] : nodes) {
    const NodeAllocation& a = (*allocs)[name];
    std::set<std::string> listed;
    for (const auto& [id, r] : a.instances) listed.insert(id);
    EXPECT_EQ(listed, by_node[name]) << name;
    const Resources limit = NodeLimit(node, policy);
    EXPECT_LE(a.Used().vcpus, limit.vcpus) << name;
    EXPECT_LE(a.Used().memory_mib, limit.memory_mib) << name;
  }

  // From etcd's history: each instance's host goes from "" to a node once
  // and never changes again, and no allocation ever exceeded its limit.
  auto end = RunTask(io_, client_->Put(std::string(kComputePrefix) + "test-end", ""));
  ASSERT_TRUE(end.ok()) << end.status();
  etcd::Watcher watcher(*client_, std::string(kComputePrefix),
                        {.prefix = true, .start_revision = start->revision + 1});
  std::map<std::string, std::vector<std::string>> hosts;  // per instance, each put's host
  Status error;
  RunTask(io_, [&]() -> Task<void> {
    while (watcher.next_revision() <= end->revision) {
      auto batch = co_await WithTimeout<etcd::WatchBatch>(30s, "watch", watcher.Next());
      if (!batch.ok()) {
        error = batch.status();
        co_return;
      }
      for (const auto& ev : batch->events) {
        if (ev.type == etcd::WatchEvent::Type::kDelete) {
          if (ev.kv.key.starts_with(kInstancesPrefix)) ADD_FAILURE() << "deleted " << ev.kv.key;
          continue;
        }
        if (ev.kv.key.starts_with(kInstancesPrefix)) {
          auto i = DecodeInstance(ev.kv.value);
          if (!i.ok()) {
            ADD_FAILURE() << i.status();
            continue;
          }
          hosts[i->id].push_back(i->host);
        } else if (ev.kv.key.starts_with(kAllocationsPrefix)) {
          auto a = DecodeNodeAllocation(ev.kv.value);
          if (!a.ok()) {
            ADD_FAILURE() << a.status();
            continue;
          }
          const Resources limit = NodeLimit(nodes[a->node], policy);
          EXPECT_LE(a->Used().vcpus, limit.vcpus) << "at revision " << ev.kv.mod_revision;
          EXPECT_LE(a->Used().memory_mib, limit.memory_mib) << "at revision " << ev.kv.mod_revision;
        }
      }
    }
  }());
  ASSERT_OK(error);
  ASSERT_EQ(hosts.size(), 20u);
  for (const auto& [id, seq] : hosts) {
    ASSERT_FALSE(seq.empty());
    EXPECT_EQ(seq.front(), "") << id << " was created bound";
    size_t changes = 0;
    for (size_t k = 1; k < seq.size(); ++k) changes += seq[k] != seq[k - 1] ? 1 : 0;
    EXPECT_EQ(changes, 1u) << id << ": its host changed " << changes << " times";
    EXPECT_EQ(seq.back(), is[id].host) << id;
  }
}

TEST_F(SchedulerTest, MalformedRecordStopsThePassUntilFixed) {
  PutNode("node-a", 4, 4096, "h1");
  StartServer(0);
  ASSERT_TRUE(WaitForLog(0, "compute scheduler leading"));
  const std::string bad_key = InstanceKey("i-bad");
  ASSERT_OK(RunTask(io_, client_->Put(bad_key, R"({"format":1,"id":"i-bad","type":)")).status());
  const int64_t created = PutInstance(MakeInstance("i-good", 1, 1024));
  // A pass that saw i-good refused to act, naming the bad record's key.
  bool refused = false;
  const TimePoint deadline = Clock::now() + kTimeout;
  while (!refused && Clock::now() < deadline) {
    const std::string log = ReadFile(ServerLog(0));
    const std::string marker = "compute records unreadable at revision ";
    for (size_t at = log.find(marker); at != std::string::npos && !refused;
         at = log.find(marker, at + 1)) {
      const int64_t revision = std::strtoll(log.c_str() + at + marker.size(), nullptr, 10);
      const size_t eol = log.find('\n', at);
      refused = revision >= created && log.substr(at, eol - at).find(bad_key) != std::string::npos;
    }
    if (!refused) RunTask(io_, [&]() -> Task<void> { co_await SleepFor(50ms); }());
  }
  ASSERT_TRUE(refused) << "no refused pass logged";
  auto is = Instances();  // the bad record fails this strict read too
  EXPECT_FALSE(is.ok());
  auto good = RunTask(io_, client_->Get(InstanceKey("i-good")));
  ASSERT_TRUE(good.ok() && good->kvs.size() == 1);
  auto decoded = DecodeInstance(good->kvs[0].value);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->host, "") << "bound while a record did not decode";
  auto allocs = Allocations();
  ASSERT_TRUE(allocs.ok()) << allocs.status();
  EXPECT_TRUE(allocs->empty());

  // Fixed: binding resumes.
  ASSERT_OK(
      RunTask(io_, client_->Put(bad_key, EncodeInstance(MakeInstance("i-bad", 1, 512)))).status());
  auto fixed = WaitInstances([](const auto& is) { return CountBound(is) == 2; });
  EXPECT_EQ(fixed["i-good"].host, "node-a");
}

}  // namespace
}  // namespace tg::compute
