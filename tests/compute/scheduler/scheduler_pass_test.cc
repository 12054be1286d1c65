// Single passes of the scheduler in this process, against a real etcd: what
// one pass writes (and does not write) for a given set of records.
#include <gtest/gtest.h>

#include <thread>

#include "compute/model/records.h"
#include "compute/scheduler/scheduler.h"
#include "etcd/election.h"
#include "support/etcd_fixture.h"

namespace tg::compute {
namespace {

using testing::RunTask;

class SchedulerPassTest : public testing::EtcdFixture {
 protected:
  void SetUp() override {
    EtcdFixture::SetUp();
    if (HasFatalFailure()) return;
    mirror_ = std::make_unique<etcd::Mirror>(*client_, std::string(kComputePrefix));
    background_.Spawn("mirror", mirror_->Run());
    election_ = std::make_unique<etcd::Election>(*client_, "scheduler-pass-test", "s", 10s);
    ASSERT_OK(RunTask(io_, election_->Campaign()));
    scheduler_ = std::make_unique<Scheduler>(*client_, *mirror_, election_->OwnerCompare());
  }
  void TearDown() override {
    scheduler_.reset();
    RunTask(io_, [&]() -> Task<void> {
      if (election_) (void)co_await election_->Resign();
      background_.CancelAll();
      co_await background_.Join();
    }());
    election_.reset();
    mirror_.reset();
    EtcdFixture::TearDown();
  }

  void Put(const std::string& key, const std::string& value) {
    auto r = RunTask(io_, client_->Put(key, value));
    ASSERT_TRUE(r.ok()) << r.status();
    last_put_ = r->revision;
  }
  void PutNode(const std::string& name, uint32_t vcpus, uint64_t memory_mib) {
    Put(NodeKey(name),
        EncodeComputeNode(
            {.name = name, .capacity = {vcpus, memory_mib}, .zone = "z1", .host = name}));
  }
  void PutInstance(const std::string& id, uint32_t vcpus, const std::string& host = "",
                   std::function<void(Instance&)> more = nullptr) {
    Instance i;
    i.id = id;
    i.type = "ecs.test";
    i.resources = {vcpus, 1024};
    i.image = "m-test";
    i.zone = "z1";
    i.host = host;
    if (!host.empty()) i.status = InstanceStatus::kRunning;
    if (more) more(i);
    Put(InstanceKey(id), EncodeInstance(i));
  }
  void UseOptions(SchedulerOptions options) {
    scheduler_ =
        std::make_unique<Scheduler>(*client_, *mirror_, election_->OwnerCompare(), options);
  }
  std::vector<InstanceEvent> Events(const std::string& id) {
    std::vector<InstanceEvent> out;
    auto got = RunTask(io_, client_->Get(std::string(kEventsPrefix) + id + "/", {.prefix = true}));
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) return out;
    for (const auto& kv : got->kvs) {
      auto e = DecodeInstanceEvent(kv.value);
      EXPECT_TRUE(e.ok()) << e.status();
      if (e.ok()) out.push_back(*e);
      last_put_ = std::max(last_put_, kv.mod_revision);
    }
    return out;
  }
  std::optional<NodeLoss> Loss(const std::string& node) {
    auto kv = Read(NodeLossKey(node));
    if (!kv.ok()) return std::nullopt;
    auto l = DecodeNodeLoss(kv->value);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? std::optional<NodeLoss>(*l) : std::nullopt;
  }
  void Delete(const std::string& key) {
    auto r = RunTask(io_, client_->Delete(key));
    ASSERT_TRUE(r.ok()) << r.status();
    last_put_ = r->revision;
  }
  // One pass once the mirror holds every record put.
  Status Pass() {
    return RunTask(io_, [&]() -> Task<Status> {
      if (!co_await mirror_->WaitFor(last_put_, 10s)) co_return DeadlineExceeded("mirror behind");
      co_return co_await scheduler_->Pass();
    }());
  }
  Result<etcd::KeyValue> Read(const std::string& key) {
    TG_ASSIGN_OR_RETURN(auto got, RunTask(io_, client_->Get(key)));
    if (got.kvs.empty()) return NotFound("{}", key);
    last_put_ = std::max(last_put_, got.kvs[0].mod_revision);
    return got.kvs[0];
  }
  Instance ReadInstance(const std::string& id) {
    auto kv = Read(InstanceKey(id));
    EXPECT_TRUE(kv.ok()) << kv.status();
    auto i = kv.ok() ? DecodeInstance(kv->value) : Result<Instance>(kv.status());
    EXPECT_TRUE(i.ok()) << i.status();
    return i.ok() ? *i : Instance{};
  }

  TaskGroup background_{io_.get_executor()};
  std::unique_ptr<etcd::Mirror> mirror_;
  std::unique_ptr<etcd::Election> election_;
  std::unique_ptr<Scheduler> scheduler_;
  int64_t last_put_ = 0;
};

TEST_F(SchedulerPassTest, BindsAndRecordsTheAllocation) {
  PutNode("node-a", 1, 4096);
  PutInstance("i-1", 2);
  PutInstance("i-2", 2);
  PutInstance("i-3", 1);
  ASSERT_OK(Pass());
  // 1 vCPU at the default 4x: room for 4, in id order (same age).
  EXPECT_EQ(ReadInstance("i-1").host, "node-a");
  EXPECT_EQ(ReadInstance("i-2").host, "node-a");
  EXPECT_EQ(ReadInstance("i-3").host, "");
  auto alloc = Read(AllocationKey("node-a"));
  ASSERT_TRUE(alloc.ok()) << alloc.status();
  auto a = DecodeNodeAllocation(alloc->value);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->instances.size(), 2u);
  EXPECT_EQ(a->Used().vcpus, 4u);
}

TEST_F(SchedulerPassTest, ReasonIsWrittenOnlyWhenItChanges) {
  PutNode("node-a", 1, 4096);
  PutInstance("i-big", 8);
  ASSERT_OK(Pass());
  auto first = Read(InstanceKey("i-big"));
  ASSERT_TRUE(first.ok());
  EXPECT_NE(ReadInstance("i-big").status_reason, "");
  ASSERT_OK(Pass());
  auto second = Read(InstanceKey("i-big"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->mod_revision, first->mod_revision) << "the same reason was written again";
  // Room appears: bound, and the reason is cleared.
  PutNode("node-b", 2, 4096);
  ASSERT_OK(Pass());
  const Instance bound = ReadInstance("i-big");
  EXPECT_EQ(bound.host, "node-b");
  EXPECT_EQ(bound.status_reason, "");
}

TEST_F(SchedulerPassTest, FreesEntriesOfInstancesGoneOrBoundElsewhere) {
  PutNode("node-a", 4, 8192);
  PutNode("node-b", 4, 8192);
  PutInstance("i-live", 1, "node-a");
  PutInstance("i-elsewhere", 1, "node-b");
  NodeAllocation before{.node = "node-a", .instances = {}};
  before.instances["i-live"] = {1, 1024};
  before.instances["i-gone"] = {2, 2048};
  before.instances["i-elsewhere"] = {1, 1024};
  Put(AllocationKey("node-a"), EncodeNodeAllocation(before));
  ASSERT_OK(Pass());
  auto alloc = Read(AllocationKey("node-a"));
  ASSERT_TRUE(alloc.ok()) << alloc.status();
  auto a = DecodeNodeAllocation(alloc->value);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->instances.size(), 1u);
  EXPECT_TRUE(a->instances.count("i-live"));
  // The last one gone: the record goes.
  auto del = RunTask(io_, client_->Delete(InstanceKey("i-live")));
  ASSERT_TRUE(del.ok()) << del.status();
  last_put_ = del->revision;
  ASSERT_OK(Pass());
  EXPECT_EQ(Read(AllocationKey("node-a")).status().code(), ErrorCode::kNotFound);
}

TEST_F(SchedulerPassTest, AnEndedTermChangesNothing) {
  PutNode("node-a", 4, 8192);
  PutInstance("i-1", 1);
  // The term ends (its candidate key goes) before the pass writes.
  ASSERT_OK(RunTask(io_, election_->Resign()));
  const Status s = Pass();
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition) << s;
  EXPECT_EQ(ReadInstance("i-1").host, "");
  EXPECT_EQ(Read(AllocationKey("node-a")).status().code(), ErrorCode::kNotFound);
  // And it stays over: a later pass does not try again.
  EXPECT_EQ(Pass().code(), ErrorCode::kFailedPrecondition);
}

// Host failures (recovery.cc).

TEST_F(SchedulerPassTest, InstancesOfALostNodeRestartElsewhereWithAnEvent) {
  PutNode("node-a", 4, 8192);
  PutNode("node-b", 4, 8192);
  PutInstance("i-run", 1, "node-a");
  PutInstance("i-off", 1, "node-a", [](Instance& i) {
    i.desired = PowerState::kStopped;
    i.status = InstanceStatus::kStopped;
  });
  PutInstance("i-stop", 1, "node-a", [](Instance& i) { i.on_host_failure = FailureAction::kStop; });
  ASSERT_OK(Pass());
  // node-a lives: nothing moves.
  EXPECT_EQ(ReadInstance("i-run").host, "node-a");
  EXPECT_FALSE(Loss("node-a"));

  Delete(NodeKey("node-a"));  // its lease lapsed
  ASSERT_OK(Pass());
  const Instance run = ReadInstance("i-run");
  EXPECT_EQ(run.host, "node-b");
  EXPECT_EQ(run.incarnation, 1u);
  EXPECT_EQ(run.status, InstanceStatus::kPending);  // the new host's agent starts it
  auto events = Events("i-run");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, kEventRedeploy);
  EXPECT_EQ(events[0].status, kEventExecuting);
  EXPECT_EQ(events[0].from_host, "node-a");
  EXPECT_EQ(events[0].incarnation, 1u);
  // Stopped ones stay stopped, unbound; Stop-on-failure ones are stopped.
  const Instance off = ReadInstance("i-off");
  EXPECT_EQ(off.host, "");
  EXPECT_EQ(off.status, InstanceStatus::kStopped);
  EXPECT_EQ(off.incarnation, 1u);
  EXPECT_TRUE(Events("i-off").empty());
  const Instance stop = ReadInstance("i-stop");
  EXPECT_EQ(stop.host, "");
  EXPECT_EQ(stop.status, InstanceStatus::kStopped);
  EXPECT_EQ(stop.desired, PowerState::kStopped);
  ASSERT_EQ(Events("i-stop").size(), 1u);
  EXPECT_EQ(Events("i-stop")[0].type, kEventFailureStop);
  EXPECT_EQ(Events("i-stop")[0].status, kEventExecuted);
  auto loss = Loss("node-a");
  ASSERT_TRUE(loss);
  EXPECT_GT(loss->lost_at, 0);
  EXPECT_EQ(loss->returned_at, 0);

  // The new host reports it Running: the event is finished.
  PutInstance("i-run", 1, "node-b", [&](Instance& i) {
    i.incarnation = 1;
    i.status_changed_at = run.status_changed_at + 1500;
  });
  ASSERT_OK(Pass());
  events = Events("i-run");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].status, kEventExecuted);
  EXPECT_EQ(events[0].to_host, "node-b");
  EXPECT_GT(events[0].finished_at, events[0].created_at);
  // A second pass changes nothing more.
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-run").incarnation, 1u);
}

TEST_F(SchedulerPassTest, RestartsGoHighestPriorityFirstWithinTheLimit) {
  UseOptions({.max_concurrent_restarts = 1});
  PutNode("node-a", 4, 8192);
  PutNode("node-b", 4, 8192);
  PutInstance("i-low", 1, "node-a");
  PutInstance("i-high", 1, "node-a", [](Instance& i) { i.restart_priority = 90; });
  Delete(NodeKey("node-a"));
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-high").host, "node-b");
  const Instance low = ReadInstance("i-low");
  EXPECT_EQ(low.host, "");
  EXPECT_NE(low.status_reason.find("waiting to restart"), std::string::npos) << low.status_reason;
  // Still starting: the limit holds.
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-low").host, "");
  // Running now: the next one goes.
  PutInstance("i-high", 1, "node-b", [](Instance& i) {
    i.incarnation = 1;
    i.restart_priority = 90;
  });
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-low").host, "node-b");
}

TEST_F(SchedulerPassTest, ANodeBackFromALossIsQuarantinedThenUsedAgain) {
  UseOptions({.flap_quarantine = std::chrono::seconds(3)});
  PutNode("node-a", 4, 8192);
  PutNode("node-b", 4, 8192);
  PutInstance("i-1", 1, "node-a");
  Delete(NodeKey("node-a"));
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-1").host, "node-b");
  PutNode("node-a", 4, 8192);  // back
  ASSERT_OK(Pass());
  auto loss = Loss("node-a");
  ASSERT_TRUE(loss);
  EXPECT_GT(loss->returned_at, 0);
  // A new instance avoids it although it is the emptier node.
  PutInstance("i-2", 1);
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-2").host, "node-b");
  // Lost again while quarantined, then back: counted twice.
  Delete(NodeKey("node-a"));
  ASSERT_OK(Pass());
  loss = Loss("node-a");
  ASSERT_TRUE(loss);
  EXPECT_EQ(loss->returned_at, 0);
  EXPECT_EQ(loss->losses, 2u);
  PutNode("node-a", 4, 8192);
  ASSERT_OK(Pass());
  // Its quarantine over, the record goes and it takes instances again.
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  ASSERT_OK(Pass());
  EXPECT_FALSE(Loss("node-a"));
  PutInstance("i-3", 1);
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-3").host, "node-a");
}

TEST_F(SchedulerPassTest, ANodeThatComesBackBeforeTheMoveKeepsItsInstance) {
  // The recovery is conditioned on the node's record being absent: the
  // mirror may still show it gone when it is back.
  PutNode("node-a", 4, 8192);
  PutNode("node-b", 4, 8192);
  PutInstance("i-1", 1, "node-a");
  Delete(NodeKey("node-a"));
  ASSERT_TRUE(RunTask(io_, mirror_->WaitFor(last_put_, 10s)));
  // Back in etcd, not yet in the mirror the pass reads.
  auto put = RunTask(
      io_,
      client_->Put(NodeKey("node-a"),
                   EncodeComputeNode(
                       {.name = "node-a", .capacity = {4, 8192}, .zone = "z1", .host = "node-a"})));
  ASSERT_TRUE(put.ok());
  // Refused (Aborted) if the pass still saw it gone, else nothing to do.
  Status s = RunTask(io_, scheduler_->Pass());
  EXPECT_TRUE(s.ok() || s.code() == ErrorCode::kAborted) << s;
  last_put_ = put->revision;
  ASSERT_OK(Pass());
  const Instance i = ReadInstance("i-1");
  EXPECT_EQ(i.host, "node-a");
  EXPECT_EQ(i.incarnation, 0u);
}

}  // namespace
}  // namespace tg::compute
