// Leader election failover with 3 candidate processes on a real etcd: kill -9
// the leader, freeze the next one (SIGSTOP) past its lease, and check from the
// candidates' own logs that no two ever believed they led at the same instant.
#include "etcd/election.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include "base/process.h"
#include "support/etcd_cluster.h"
#include "support/leadership_log.h"

namespace tg::etcd {
namespace {

using testing::LeadershipInterval;
using testing::MonotonicNanos;

constexpr int kTtlSeconds = 2;

struct Candidate {
  std::string name;
  std::string log;
  std::unique_ptr<ChildProcess> process;
};

// Waits until a candidate other than those in `except` logs ELECTED after
// `after_ns`; returns its index and the time, or -1.
std::pair<int, int64_t> WaitForElected(const std::vector<Candidate>& cs, int64_t after_ns,
                                       std::vector<int> except, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (int i = 0; i < static_cast<int>(cs.size()); ++i) {
      if (std::find(except.begin(), except.end(), i) != except.end()) continue;
      for (const LeadershipInterval& iv : testing::ReadLeadershipLogs({cs[i].log})) {
        if (iv.start_ns > after_ns) return {i, iv.start_ns};
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  return {-1, 0};
}

// Until the candidates' keys in etcd are exactly those put by `names` (each
// candidate puts its name), so the test acts only once every candidate it
// counts on is queued.
bool WaitForCandidates(asio::io_context& io, Client& client, std::set<std::string> names,
                       Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    auto keys = testing::RunTask(io, client.Get(Election::Prefix("test"), {.prefix = true}));
    std::set<std::string> queued;
    if (keys.ok())
      for (const auto& kv : keys->kvs) queued.insert(kv.value);
    if (queued == names) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// Until candidate `c`'s leadership that began at `since_ns` has logged a
// check after ELECTED: it is leading and checking, not just elected.
bool WaitForACheck(const Candidate& c, int64_t since_ns, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (const LeadershipInterval& iv : testing::ReadLeadershipLogs({c.log})) {
      if (iv.start_ns == since_ns && iv.end_ns > iv.start_ns) return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(Election, FailoverNeverHasTwoLeaders) {
  asio::io_context io;
  testing::EtcdCluster cluster(io, 1);
  auto client = Client::Create(io.get_executor(), {.endpoints = cluster.urls()});
  ASSERT_TRUE(client.ok());
  testing::TempDir dir;
  std::vector<Candidate> cs;
  for (int i = 0; i < 3; ++i) {
    Candidate c{fmt::format("c{}", i), fmt::format("{}/c{}.log", dir.path(), i), nullptr};
    auto p = ChildProcess::Spawn(
        {.argv = {testing::SiblingBinary("election_candidate"), cluster.urls()[0], c.name,
                  std::to_string(kTtlSeconds), c.log},
         .output_path = fmt::format("{}/c{}.out", dir.path(), i)});
    ASSERT_TRUE(p.ok()) << p.status();
    c.process = std::make_unique<ChildProcess>(std::move(*p));
    cs.push_back(std::move(c));
  }
  const int64_t t0 = MonotonicNanos();
  auto [first, first_at] = WaitForElected(cs, t0, {}, 30s);
  ASSERT_GE(first, 0) << "nobody was elected";

  // 1. kill -9 the leader: another is elected within the lease TTL (plus
  //    etcd's expiry tick and the watch round trip). First every candidate
  //    is queued and the leader is checking.
  ASSERT_TRUE(WaitForCandidates(io, **client, {"c0", "c1", "c2"}, 30s));
  ASSERT_TRUE(WaitForACheck(cs[first], first_at, 10s));
  const int64_t killed_at = MonotonicNanos();
  ASSERT_OK(cs[first].process->Signal(SIGKILL));
  auto [second, second_at] = WaitForElected(cs, killed_at, {first}, 15s);
  ASSERT_GE(second, 0) << "no new leader after the kill";
  const double failover_s = (second_at - killed_at) / 1e9;
  std::printf("failover after kill -9: %.2f s (lease TTL %d s)\n", failover_s, kTtlSeconds);
  // The lease's TTL, plus etcd's expiry check (every 500 ms), the revoke and
  // the watch; the slack is for ASan on a loaded machine.
  EXPECT_LT(failover_s, kTtlSeconds + 2.0);

  // 2. Freeze the new leader past its lease: the third takes over, and the
  //    frozen one, once thawed, must not believe it still leads.
  ASSERT_TRUE(WaitForACheck(cs[second], second_at, 10s));
  const int64_t frozen_at = MonotonicNanos();
  ASSERT_OK(cs[second].process->Signal(SIGSTOP));
  auto [third, third_at] = WaitForElected(cs, frozen_at, {first, second}, 15s);
  ASSERT_GE(third, 0) << "no new leader while the leader was frozen";
  ASSERT_OK(cs[second].process->Signal(SIGCONT));
  // Thawed, it campaigns again (a new key: its lease is gone), behind the third.
  ASSERT_TRUE(WaitForCandidates(io, **client, {cs[second].name, cs[third].name}, 15s));

  // 3. The leader resigns on SIGTERM: the thawed candidate takes over at once.
  const int64_t resigned_at = MonotonicNanos();
  ASSERT_OK(cs[third].process->Signal(SIGTERM));
  auto st = cs[third].process->Wait(10s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 0");
  auto [fourth, fourth_at] = WaitForElected(cs, resigned_at, {first, third}, 10s);
  ASSERT_EQ(fourth, second);
  std::printf("handover after resign: %.2f s\n", (fourth_at - resigned_at) / 1e9);
  EXPECT_LT((fourth_at - resigned_at) / 1e9, 1.5);  // well under the TTL: no lease expiry
  ASSERT_OK(cs[second].process->Signal(SIGTERM));
  EXPECT_TRUE(cs[second].process->Wait(10s).ok());

  std::vector<std::string> logs;
  for (const auto& c : cs) logs.push_back(c.log);
  auto intervals = testing::ReadLeadershipLogs(logs);
  EXPECT_GE(intervals.size(), 4u);
  auto overlap = testing::FindOverlap(intervals);
  EXPECT_FALSE(overlap) << *overlap;
}

// Two in-process candidates and an observer: the observer sees each change of
// leader, and "no leader" once both have resigned.
Task<void> ObserveTwoLeaders(Client& client, std::vector<std::string>& seen) {
  Election a(client, "observed", "a", 2s), b(client, "observed", "b", 2s);
  Election::Observer observer(client, "observed");
  auto note = [&](const Result<std::optional<LeaderInfo>>& r) {
    seen.push_back(!r.ok() ? r.status().ToString() : (*r ? (*r)->value : "none"));
  };
  note(co_await observer.Next());  // nobody yet
  CO_ASSERT_OK(co_await a.Campaign());
  note(co_await observer.Next());
  // b queues behind a; a resigns; b leads.
  TaskGroup group(client.executor());
  group.Spawn("b campaigns", [](Election& e) -> Task<void> { (void)co_await e.Campaign(); }(b));
  // Until b is queued: its key is there beside a's.
  for (const TimePoint deadline = Clock::now() + 10s;;) {
    auto keys =
        co_await client.Get(Election::Prefix("observed"), {.prefix = true, .count_only = true});
    if (keys.ok() && keys->count == 2) break;
    CO_ASSERT_TRUE(Clock::now() < deadline);
    co_await SleepFor(20ms);
  }
  EXPECT_FALSE(b.is_leader());
  CO_ASSERT_OK(co_await a.Resign());
  note(co_await observer.Next());
  co_await group.Join();
  EXPECT_TRUE(b.is_leader());
  CO_ASSERT_OK(co_await b.Resign());
  note(co_await observer.Next());
}

TEST(Election, ObserverFollowsEveryChangeOfLeader) {
  asio::io_context io;
  testing::EtcdCluster cluster(io, 1);
  auto client = Client::Create(io.get_executor(), {.endpoints = cluster.urls()});
  ASSERT_TRUE(client.ok());
  std::vector<std::string> seen;
  testing::RunTask(io, ObserveTwoLeaders(**client, seen));
  EXPECT_EQ(seen, (std::vector<std::string>{"none", "a", "b", "none"}));
}

// A write fenced by OwnerCompare() lands only while the candidate key of that
// term exists: once a's lease is gone (revoked behind its back, as an expiry
// would), a's fenced write fails and b's, as the new leader, lands.
Task<Result<bool>> FencedPut(Client& client, const Compare& fence, std::string value) {
  Txn txn;
  txn.compares.push_back(fence);
  txn.then.push_back(TxnOp::Put("/fenced", std::move(value)));
  TG_CO_ASSIGN_OR_RETURN(TxnResult r, co_await client.Commit(std::move(txn)));
  co_return r.succeeded;
}

Task<void> FenceTwoTerms(Client& client) {
  Election a(client, "fenced", "a", 5s), b(client, "fenced", "b", 5s);
  auto before = co_await FencedPut(client, a.OwnerCompare(), "before any campaign");
  CO_ASSERT_OK(before.status());
  EXPECT_FALSE(*before);

  CO_ASSERT_OK(co_await a.Campaign());
  const Compare a_fence = a.OwnerCompare();
  auto a_leads = co_await FencedPut(client, a_fence, "a");
  CO_ASSERT_OK(a_leads.status());
  EXPECT_TRUE(*a_leads);

  // a's lease ends on the server while a still believes it leads.
  auto keys = co_await client.Get(Election::Prefix("fenced"), {.prefix = true});
  CO_ASSERT_TRUE(keys.ok() && keys->kvs.size() == 1u);
  CO_ASSERT_OK(co_await client.RevokeLease(keys->kvs[0].lease));
  CO_ASSERT_OK(co_await b.Campaign());
  auto a_late = co_await FencedPut(client, a_fence, "a, after its lease");
  CO_ASSERT_OK(a_late.status());
  EXPECT_FALSE(*a_late);
  auto b_leads = co_await FencedPut(client, b.OwnerCompare(), "b");
  CO_ASSERT_OK(b_leads.status());
  EXPECT_TRUE(*b_leads);

  auto value = co_await client.Get("/fenced");
  CO_ASSERT_TRUE(value.ok() && value->kvs.size() == 1u);
  EXPECT_EQ(value->kvs[0].value, "b");
  CO_ASSERT_OK(co_await b.Resign());
  (void)co_await a.Resign();
}

TEST(Election, OwnerCompareFencesWritesToTheCurrentTerm) {
  asio::io_context io;
  testing::EtcdCluster cluster(io, 1);
  auto client = Client::Create(io.get_executor(), {.endpoints = cluster.urls()});
  ASSERT_TRUE(client.ok());
  testing::RunTask(io, FenceTwoTerms(**client));
}

}  // namespace
}  // namespace tg::etcd
