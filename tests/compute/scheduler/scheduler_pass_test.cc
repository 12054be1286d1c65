// Single passes of the scheduler in this process, against a real etcd: what
// one pass writes (and does not write) for a given set of records.
#include <gtest/gtest.h>

#include <thread>

#include "compute/model/migration.h"
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

// A migration asked for: placed (never where it runs), its resources
// reserved on the target until it ends; one that fits nowhere fails with
// its event saying why, and the instance is left as it was.
TEST_F(SchedulerPassTest, MigrationsArePlacedElsewhereWithTheirResourcesReserved) {
  PutNode("node-a", 4, 8192);
  PutNode("node-b", 4, 8192);
  PutInstance("i-move", 2, "node-a");
  ASSERT_OK(Pass());  // its allocation on node-a
  Instance v = ReadInstance("i-move");
  auto begun = BeginMigration(v, MigrateRequest{}, "asked", 1700000000000);
  ASSERT_OK(begun.status());
  Put(EventKey(v.id, begun->id), EncodeInstanceEvent(*begun));
  Put(InstanceKey(v.id), EncodeInstance(v));
  ASSERT_OK(Pass());
  Instance placed = ReadInstance("i-move");
  ASSERT_TRUE(placed.migration.has_value());
  EXPECT_EQ(placed.migration->phase, MigrationPhase::kPlaced);
  EXPECT_EQ(placed.migration->target, "node-b");
  EXPECT_EQ(placed.host, "node-a");  // until the destination takes it
  auto alloc = Read(AllocationKey("node-b"));
  ASSERT_TRUE(alloc.ok()) << alloc.status();
  EXPECT_TRUE(DecodeNodeAllocation(alloc->value)->instances.contains("i-move"));
  // A pass while it is under way keeps the reservation.
  ASSERT_OK(Pass());
  alloc = Read(AllocationKey("node-b"));
  ASSERT_TRUE(alloc.ok());
  EXPECT_TRUE(DecodeNodeAllocation(alloc->value)->instances.contains("i-move"));
  // Over: the reservation goes with it (the instance stayed on node-a).
  placed.migration.reset();
  Put(InstanceKey("i-move"), EncodeInstance(placed));
  ASSERT_OK(Pass());
  alloc = Read(AllocationKey("node-b"));
  EXPECT_FALSE(alloc.ok() && DecodeNodeAllocation(alloc->value)->instances.contains("i-move"));

  // Asked to go to a node without room: refused, with the reason.
  PutNode("node-c", 1, 512);
  Instance w = ReadInstance("i-move");
  MigrateRequest to_c{.target = "node-c"};
  auto refused = BeginMigration(w, to_c, "asked", 1700000001000);
  ASSERT_OK(refused.status());
  Put(EventKey(w.id, refused->id), EncodeInstanceEvent(*refused));
  Put(InstanceKey(w.id), EncodeInstance(w));
  ASSERT_OK(Pass());
  const Instance after = ReadInstance("i-move");
  EXPECT_FALSE(after.migration.has_value());
  EXPECT_EQ(after.host, "node-a");
  bool failed = false;
  for (const InstanceEvent& e : Events("i-move")) {
    if (e.id != refused->id) continue;
    failed = e.status == kEventFailed;
    EXPECT_NE(e.reason.find("no host can take it"), std::string::npos) << e.reason;
  }
  EXPECT_TRUE(failed);
}

// BeginMigration refuses what cannot move live, and bad limits.
TEST(BeginMigrationTest, OnlyARunningBoundInstanceWithSaneLimits) {
  Instance v{.id = "i-1", .host = "node-a"};
  v.status = InstanceStatus::kRunning;
  MigrateRequest r;
  r.downtime_ms = 0;
  EXPECT_EQ(BeginMigration(v, r, "", 0).status().code(), ErrorCode::kInvalidArgument);
  r.downtime_ms = kMaxMigrationDowntimeMs + 1;
  EXPECT_EQ(BeginMigration(v, r, "", 0).status().code(), ErrorCode::kInvalidArgument);
  r.downtime_ms = 300;
  r.target = "node-a";
  EXPECT_EQ(BeginMigration(v, r, "", 0).status().code(), ErrorCode::kInvalidArgument);
  r.target.clear();
  Instance stopped = v;
  stopped.status = InstanceStatus::kStopped;
  EXPECT_EQ(BeginMigration(stopped, r, "", 0).status().code(), ErrorCode::kFailedPrecondition);
  Instance unbound = v;
  unbound.host.clear();
  EXPECT_EQ(BeginMigration(unbound, r, "", 0).status().code(), ErrorCode::kFailedPrecondition);
  auto ev = BeginMigration(v, r, "why", 42);
  ASSERT_OK(ev.status());
  EXPECT_EQ(ev->type, kEventLiveMigrate);
  EXPECT_EQ(ev->status, kEventExecuting);
  EXPECT_EQ(ev->from_host, "node-a");
  EXPECT_EQ(ev->reason, "why");
  ASSERT_TRUE(v.migration.has_value());
  EXPECT_EQ(v.migration->event, ev->id);
  EXPECT_EQ(v.migration->phase, MigrationPhase::kRequested);
  EXPECT_EQ(BeginMigration(v, r, "", 0).status().code(), ErrorCode::kFailedPrecondition);
}

// A drained node: nothing new lands on it; its running instances migrate
// away two at a time; a stopped one is unbound; one whose live migration
// failed restarts elsewhere (or stops, as its action says); undrained, it
// takes instances again.
TEST_F(SchedulerPassTest, ADrainedNodeIsGivenNothingAndItsInstancesMoveAway) {
  PutNode("node-a", 8, 16384);
  PutNode("node-b", 8, 16384);
  for (const char* id : {"i-1", "i-2", "i-3"}) PutInstance(id, 1, "node-a");
  PutInstance("i-off", 1, "node-a", [](Instance& i) {
    i.desired = PowerState::kStopped;
    i.status = InstanceStatus::kStopped;
  });
  PutInstance("i-busy", 1, "node-a", [](Instance& i) { i.status = InstanceStatus::kStarting; });
  ASSERT_OK(Pass());
  Put(DrainKey("node-a"), EncodeNodeDrain({.node = "node-a", .requested_at = 1}));
  PutInstance("i-new", 1);
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-new").host, "node-b");
  size_t migrating = 0;
  for (const char* id : {"i-1", "i-2", "i-3"}) {
    const Instance i = ReadInstance(id);
    EXPECT_EQ(i.host, "node-a");
    if (!i.migration) continue;
    ++migrating;
    EXPECT_EQ(i.migration->target, "node-b");  // placed in the same pass
    ASSERT_EQ(Events(id).size(), 1u);
    EXPECT_EQ(Events(id)[0].type, kEventLiveMigrate);
    EXPECT_NE(Events(id)[0].reason.find("drained"), std::string::npos);
  }
  EXPECT_EQ(migrating, 2u);  // at most two at once per drained node
  EXPECT_EQ(ReadInstance("i-off").host, "");
  EXPECT_EQ(ReadInstance("i-busy").host, "node-a");  // waited for
  EXPECT_FALSE(ReadInstance("i-busy").migration.has_value());

  // The two migrations end: i-1 switched, i-2 failed. The third starts.
  Instance one = ReadInstance("i-1"), two = ReadInstance("i-2");
  ASSERT_TRUE(one.migration && two.migration);
  for (Instance* i : {&one, &two}) {
    auto events = Events(i->id);
    InstanceEvent ev = events.at(0);
    ev.status = std::string(i == &one ? kEventExecuted : kEventFailed);
    ev.finished_at = 2;
    Put(EventKey(i->id, ev.id), EncodeInstanceEvent(ev));
    if (i == &one) i->host = "node-b";
    i->migration.reset();
    Put(InstanceKey(i->id), EncodeInstance(*i));
  }
  ASSERT_OK(Pass());
  EXPECT_TRUE(ReadInstance("i-3").migration.has_value());
  // i-2's live migration failed: it restarts elsewhere, from the same disks.
  const Instance moved = ReadInstance("i-2");
  EXPECT_EQ(moved.host, "node-b");
  EXPECT_EQ(moved.incarnation, 1u);
  EXPECT_EQ(moved.status, InstanceStatus::kPending);
  bool redeployed = false;
  for (const InstanceEvent& e : Events("i-2")) redeployed |= e.type == kEventMaintenanceRedeploy;
  EXPECT_TRUE(redeployed);

  // An instance whose action is Stop is stopped instead.
  PutInstance("i-stop", 1, "node-a", [](Instance& i) { i.on_host_failure = FailureAction::kStop; });
  const InstanceEvent failed{.id = "e-failed",
                             .instance = "i-stop",
                             .type = std::string(kEventLiveMigrate),
                             .status = std::string(kEventFailed),
                             .created_at = 5};
  Put(EventKey("i-stop", failed.id), EncodeInstanceEvent(failed));
  ASSERT_OK(Pass());
  const Instance stop = ReadInstance("i-stop");
  EXPECT_EQ(stop.desired, PowerState::kStopped);
  EXPECT_EQ(stop.host, "node-a");  // its agent stops it; unbound once Stopped
  bool stopped = false;
  for (const InstanceEvent& e : Events("i-stop")) stopped |= e.type == kEventMaintenanceStop;
  EXPECT_TRUE(stopped);

  // Undrained: node-a takes instances again, and nothing more moves.
  Delete(DrainKey("node-a"));
  PutNode("node-b", 0, 0);  // full: the next one can only go to node-a
  PutInstance("i-later", 1);
  ASSERT_OK(Pass());
  EXPECT_EQ(ReadInstance("i-later").host, "node-a");
  EXPECT_FALSE(ReadInstance("i-busy").migration.has_value());
}

}  // namespace
}  // namespace tg::compute
