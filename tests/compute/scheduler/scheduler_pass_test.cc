// Single passes of the scheduler in this process, against a real etcd: what
// one pass writes (and does not write) for a given set of records.
#include <gtest/gtest.h>

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
  void PutInstance(const std::string& id, uint32_t vcpus, const std::string& host = "") {
    Instance i;
    i.id = id;
    i.type = "ecs.test";
    i.resources = {vcpus, 1024};
    i.image = "m-test";
    i.zone = "z1";
    i.host = host;
    Put(InstanceKey(id), EncodeInstance(i));
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

}  // namespace
}  // namespace tg::compute
