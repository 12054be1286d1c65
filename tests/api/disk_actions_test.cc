// The ECS disk and snapshot actions against a real storage cluster (etcd, a
// server, three chunkservers) and the real stores: disks are volumes whose
// bytes are read back through the storage client, snapshots and disks made
// from them hold the same bytes, resize only grows, attach and detach edit
// the instance record (an instance made through the compute store, Stopped
// as its agent would report it), ResetDisk swaps in the snapshot's content,
// the preconditions give Alibaba's codes, and account B sees none of A's.
#include <gtest/gtest.h>

#include <fstream>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "network/model/address.h"
#include "storage/client/distributed_volume.h"
#include "support/pattern.h"

namespace tg::api::testing {
namespace {

constexpr size_t kWritten = 1 << 20;  // the bytes each check writes and reads

class DiskActionsTest : public ApiTest {
 protected:
  DiskActionsTest() : ApiTest(3) {}

  // Writes `bytes` at the start of volume `name` (as its writer, closed after).
  Task<Status> WriteVolume(std::string name, std::vector<uint8_t> bytes) {
    storage::DistributedVolumeOptions o{.volume = name, .holder = "test", .lease_ttl_seconds = 2};
    TG_CO_ASSIGN_OR_RETURN(auto v, co_await storage::OpenDistributedVolume(client(), o));
    Status s = co_await v->Write(0, bytes);
    if (s.ok()) s = co_await v->Flush();
    co_await v->Close();
    co_return s;
  }
  Task<Result<std::vector<uint8_t>>> ReadVolume(std::string name) {
    storage::DistributedVolumeOptions o{.volume = name, .holder = "test", .lease_ttl_seconds = 2};
    TG_CO_ASSIGN_OR_RETURN(auto v, co_await storage::OpenDistributedVolume(client(), o));
    std::vector<uint8_t> out(kWritten);
    Status s = co_await v->Read(0, out);
    co_await v->Close();
    TG_CO_RETURN_IF_ERROR(s);
    co_return out;
  }
  // The disk as DescribeDisks shows it to `as` (null if not listed).
  Task<Json> Disk(const std::string& id, const Account* as = nullptr) {
    Params params{{"DiskIds", "[\"" + id + "\"]"}};
    auto r = co_await Ecs("DescribeDisks", params, as);
    EXPECT_TRUE(r.ok()) << CodeOf(r);
    if (!r.ok() || (*r)["Disks"]["Disk"].empty()) co_return Json();
    co_return (*r)["Disks"]["Disk"][0];
  }
  // Until the disk is Available (a created volume is placed by the master).
  Task<bool> WaitAvailable(const std::string& id) {
    asio::steady_timer timer(io_);
    for (int i = 0; i < 300; ++i) {
      Json d = co_await Disk(id);
      if (d.is_object() && d["Status"] == "Available") co_return true;
      timer.expires_after(100ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return false;
  }
  // An instance of account A made through the compute store, Stopped as
  // its agent would report it.
  Task<Result<compute::Instance>> MakeInstance() {
    const std::string raw = dir_.path() + "/zeros.raw";
    {
      std::ofstream out(raw, std::ios::binary);
      const std::string zeros(4 << 20, '\0');
      out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
    }
    compute::ImportImageRequest import{.name = "tiny", .file = raw};
    TG_CO_ASSIGN_OR_RETURN(auto image, co_await compute_->ImportImage(import));
    TG_CO_ASSIGN_OR_RETURN(auto vpc,
                           co_await vpcs_.CreateVpc("v", *network::ParseCidr("10.0.0.0/16")));
    TG_CO_ASSIGN_OR_RETURN(auto vsw, co_await vpcs_.CreateVSwitch(
                                         vpc.id, *network::ParseCidr("10.0.1.0/24"), "zone-a"));
    TG_CO_ASSIGN_OR_RETURN(auto sg, co_await vpcs_.CreateSecurityGroup(vpc.id, "sg"));
    compute::CreateInstanceRequest r{.type = "ecs.t6-c1m1.small",
                                     .image = image.id,
                                     .vswitch = vsw.id,
                                     .security_groups = {sg.id},
                                     .start = false};
    TG_CO_ASSIGN_OR_RETURN(auto inst, co_await compute_->CreateInstance(r));
    std::function<Status(compute::Instance&)> stopped = [](compute::Instance& i) {
      i.status = compute::InstanceStatus::kStopped;
      return Status::Ok();
    };
    TG_CO_ASSIGN_OR_RETURN(inst, co_await compute_->UpdateInstance(inst.id, stopped));
    ResourceRecord owned;
    owned.id = inst.id;
    owned.kind = std::string(kind::kInstance);
    owned.account = a_.id;
    TG_CO_RETURN_IF_ERROR(co_await registry_.Create(owned));
    // Its system disk, recorded as the instance actions record it.
    ResourceRecord system;
    system.id = inst.disks[0].id;
    system.kind = std::string(kind::kDisk);
    system.account = a_.id;
    system.extra = Json{{"category", "cloud_essd"},
                        {"type", "system"},
                        {"instance", inst.id},
                        {"delete_with_instance", true},
                        {"image", image.id}};
    TG_CO_RETURN_IF_ERROR(co_await registry_.Create(system));
    co_return inst;
  }
  Task<compute::Instance> InstanceRecord(const std::string& id) {
    auto st = co_await compute_->Read();
    EXPECT_TRUE(st.ok()) << st.status();
    co_return st.ok() && st->instances.count(id) ? st->instances.at(id).value : compute::Instance{};
  }
};

bool HasDisk(const compute::Instance& inst, const std::string& disk) {
  return std::any_of(inst.disks.begin(), inst.disks.end(),
                     [&](const compute::InstanceDisk& d) { return d.id == disk; });
}

TEST_F(DiskActionsTest, DisksSnapshotsAttachmentsAndTenancy) {
  tg::testing::RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    Params p1 = {{"Size", "20"}};

    // Parameters.
    auto r = co_await Ecs("CreateDisk", p1);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p2 = {{"ZoneId", "zone-a"}};
    r = co_await Ecs("CreateDisk", p2);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p3 = {{"ZoneId", "zone-a"}, {"Size", "5"}, {"DiskCategory", "cloud_essd"}};
    r = co_await Ecs("CreateDisk", p3);
    EXPECT_EQ(CodeOf(r), "InvalidDiskSize.ValueNotSupported");
    Params p4 = {{"ZoneId", "zone-a"}, {"Size", "x"}};
    r = co_await Ecs("CreateDisk", p4);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");
    Params p5 = {{"ZoneId", "zone-a"}, {"Size", "20"}, {"DiskCategory", "floppy"}};
    r = co_await Ecs("CreateDisk", p5);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");
    Params p6 = {{"ZoneId", "zone-a"}, {"Size", "20"}, {"DiskName", "1bad"}};
    r = co_await Ecs("CreateDisk", p6);
    EXPECT_EQ(CodeOf(r), "InvalidDiskName.Malformed");
    Params p7 = {{"ZoneId", "zone-a"},           {"Size", "1"},
                 {"DiskCategory", "cloud_auto"}, {"DiskName", "data-one"},
                 {"Description", "first"},       {"Encrypted", "false"},
                 {"Tag.1.Key", "env"},           {"Tag.1.Value", "test"}};

    // A disk: its id, then its listing once the volume is placed.
    r = co_await Ecs("CreateDisk", p7);
    CO_ASSERT_API_OK(r);
    const std::string d1 = (*r)["DiskId"];
    EXPECT_TRUE(d1.starts_with("d-"));
    EXPECT_EQ(d1.size(), 22u);
    EXPECT_EQ((*r)["OrderId"], "");
    CO_ASSERT_TRUE(co_await WaitAvailable(d1));
    Json disk = co_await Disk(d1);
    EXPECT_EQ(disk["DiskName"], "data-one");
    EXPECT_EQ(disk["Description"], "first");
    EXPECT_EQ(disk["Type"], "data");
    EXPECT_EQ(disk["Category"], "cloud_auto");
    EXPECT_EQ(disk["Size"], 1);
    EXPECT_EQ(disk["ZoneId"], "zone-a");
    EXPECT_EQ(disk["InstanceId"], "");
    EXPECT_EQ(disk["DeleteWithInstance"], false);
    EXPECT_EQ(disk["Portable"], true);
    EXPECT_EQ(disk["SourceSnapshotId"], "");
    EXPECT_TRUE(disk["Attachments"]["Attachment"].is_array());
    EXPECT_TRUE(disk["Attachments"]["Attachment"].empty());
    EXPECT_EQ(disk["Tags"]["Tag"][0]["TagKey"], "env");
    EXPECT_EQ(disk["Tags"]["Tag"][0]["TagValue"], "test");
    EXPECT_EQ(std::string(disk["CreationTime"]).size(), 17u);  // 2026-12-02T03:04Z
    Params p8 = {{"MaxResults", "10"}};
    r = co_await Ecs("DescribeDisks", p8);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 1);
    EXPECT_EQ((*r)["NextToken"], "");
    Params p9 = {{"DiskType", "system"}};
    r = co_await Ecs("DescribeDisks", p9);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    Params p10 = {{"DiskIds", "[\"d-nosuchdisk\"]"}};
    r = co_await Ecs("DescribeDisks", p10);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    Params p11 = {{"DiskIds", "d-1"}};
    r = co_await Ecs("DescribeDisks", p11);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");

    // A snapshot holds the bytes as they were; a disk made from it too.
    const std::vector<uint8_t> first = tg::testing::PatternBytes(kWritten, 1);
    const std::vector<uint8_t> second = tg::testing::PatternBytes(kWritten, 2);
    CO_ASSERT_OK(co_await WriteVolume(d1, first));
    Params p12 = {{"DiskId", d1}, {"SnapshotName", "snap-one"}, {"RetentionDays", "7"}};
    r = co_await Ecs("CreateSnapshot", p12);
    CO_ASSERT_API_OK(r);
    const std::string s1 = (*r)["SnapshotId"];
    EXPECT_TRUE(s1.starts_with("s-"));
    CO_ASSERT_OK(co_await WriteVolume(d1, second));
    Params p13 = {};
    r = co_await Ecs("CreateSnapshot", p13);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p14 = {{"DiskId", "d-nosuchdisk"}};
    r = co_await Ecs("CreateSnapshot", p14);
    EXPECT_EQ(CodeOf(r), "InvalidDiskId.NotFound");
    Params p15 = {{"SnapshotIds", "[\"" + s1 + "\"]"}};
    r = co_await Ecs("DescribeSnapshots", p15);
    CO_ASSERT_API_OK(r);
    CO_ASSERT_EQ((*r)["Snapshots"]["Snapshot"].size(), 1u);
    Json snap = (*r)["Snapshots"]["Snapshot"][0];
    EXPECT_EQ(snap["SnapshotId"], s1);
    EXPECT_EQ(snap["SnapshotName"], "snap-one");
    EXPECT_EQ(snap["Status"], "accomplished");
    EXPECT_EQ(snap["Progress"], "100%");
    EXPECT_EQ(snap["RemainTime"], 0);
    EXPECT_EQ(snap["SourceDiskId"], d1);
    EXPECT_EQ(snap["SourceDiskSize"], "1");
    EXPECT_EQ(snap["SourceDiskType"], "data");
    EXPECT_EQ(snap["Usage"], "none");
    EXPECT_EQ(snap["RetentionDays"], 7);
    Params p16 = {
        {"ZoneId", "zone-a"}, {"SnapshotId", s1}, {"Size", "2"}, {"DiskCategory", "cloud_auto"}};

    r = co_await Ecs("CreateDisk", p16);
    CO_ASSERT_API_OK(r);
    const std::string d2 = (*r)["DiskId"];
    CO_ASSERT_TRUE(co_await WaitAvailable(d2));
    disk = co_await Disk(d2);
    EXPECT_EQ(disk["Size"], 2);
    EXPECT_EQ(disk["SourceSnapshotId"], s1);
    auto bytes = co_await ReadVolume(d2);
    CO_ASSERT_OK(bytes.status());
    EXPECT_TRUE(*bytes == first);
    Params p17 = {{"DiskId", d1}};
    r = co_await Ecs("DescribeSnapshots", p17);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["Snapshots"]["Snapshot"][0]["Usage"], "disk");
    Params p18 = {{"SnapshotId", s1}};
    r = co_await Ecs("DeleteSnapshot", p18);
    EXPECT_EQ(CodeOf(r), "SnapshotCreatedDisk");
    EXPECT_EQ(r.ok() ? 0 : r.error().http_status, 403);
    Params p19 = {{"DiskId", d1}, {"NewSize", "1"}};

    // Resize: grow only.
    r = co_await Ecs("ResizeDisk", p19);
    EXPECT_EQ(CodeOf(r), "InvalidDiskSize.TooSmall");
    Params p20 = {{"DiskId", d1}};
    r = co_await Ecs("ResizeDisk", p20);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p21 = {{"DiskId", d1}, {"NewSize", "3"}, {"Type", "online"}};
    r = co_await Ecs("ResizeDisk", p21);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["OrderId"], "");
    disk = co_await Disk(d1);
    EXPECT_EQ(disk["Size"], 3);
    Params p22 = {};

    // Tenancy: B sees and touches none of A's.
    r = co_await Ecs("DescribeDisks", p22, &b_);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    Params p23 = {};
    r = co_await Ecs("DescribeSnapshots", p23, &b_);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    for (const auto& [action, params] : std::vector<std::pair<std::string, Params>>{
             {"DeleteDisk", {{"DiskId", d1}}},
             {"ResizeDisk", {{"DiskId", d1}, {"NewSize", "4"}}},
             {"CreateSnapshot", {{"DiskId", d1}}}}) {
      r = co_await Ecs(action, params, &b_);
      EXPECT_EQ(CodeOf(r), "InvalidDiskId.NotFound") << action;
    }
    Params p24 = {{"SnapshotId", s1}};
    r = co_await Ecs("DeleteSnapshot", p24, &b_);
    EXPECT_EQ(CodeOf(r), "InvalidSnapshotId.NotFound");
    Params p25 = {{"ZoneId", "zone-a"}, {"SnapshotId", s1}};
    r = co_await Ecs("CreateDisk", p25, &b_);
    EXPECT_EQ(CodeOf(r), "InvalidSnapshotId.NotFound");

    // Attach to a Stopped instance, as the instance record shows.
    auto inst = co_await MakeInstance();
    CO_ASSERT_OK(inst.status());
    const std::string system_disk = inst->disks[0].id;
    Params p26 = {{"DiskId", d1}, {"InstanceId", inst->id}};
    r = co_await Ecs("AttachDisk", p26, &b_);
    EXPECT_EQ(CodeOf(r), "InvalidDiskId.NotFound");
    Params p27 = {{"DiskId", d1}, {"InstanceId", "i-nosuchinstance"}};
    r = co_await Ecs("AttachDisk", p27);
    EXPECT_EQ(CodeOf(r), "InvalidInstanceId.NotFound");
    Params p28 = {{"DiskId", d1}};
    r = co_await Ecs("AttachDisk", p28);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p29 = {{"DiskId", d1}, {"InstanceId", inst->id}, {"DeleteWithInstance", "true"}};
    r = co_await Ecs("AttachDisk", p29);
    CO_ASSERT_API_OK(r);
    compute::Instance now = co_await InstanceRecord(inst->id);
    CO_ASSERT_EQ(now.disks.size(), 2u);
    EXPECT_EQ(now.disks[1].id, d1);
    EXPECT_EQ(now.disks[1].volume, d1);
    EXPECT_TRUE(now.disks[1].delete_with_instance);
    disk = co_await Disk(d1);
    EXPECT_EQ(disk["Status"], "In_use");
    EXPECT_EQ(disk["InstanceId"], inst->id);
    EXPECT_EQ(disk["Device"], "/dev/vdb");
    EXPECT_EQ(disk["DeleteWithInstance"], true);
    EXPECT_EQ(disk["Attachments"]["Attachment"][0]["InstanceId"], inst->id);
    Params p30 = {{"InstanceId", inst->id}, {"DiskType", "system"}};
    r = co_await Ecs("DescribeDisks", p30);
    CO_ASSERT_API_OK(r);
    CO_ASSERT_EQ((*r)["Disks"]["Disk"].size(), 1u);
    EXPECT_EQ((*r)["Disks"]["Disk"][0]["DiskId"], system_disk);
    EXPECT_EQ((*r)["Disks"]["Disk"][0]["Device"], "/dev/vda");
    Params p31 = {{"DiskId", d1}, {"InstanceId", inst->id}};
    r = co_await Ecs("AttachDisk", p31);
    EXPECT_EQ(CodeOf(r), "IncorrectDiskStatus");
    Params p32 = {{"DiskId", d1}};
    r = co_await Ecs("DeleteDisk", p32);
    EXPECT_EQ(CodeOf(r), "IncorrectDiskStatus");
    Params p33 = {{"DiskId", system_disk}, {"InstanceId", inst->id}};
    r = co_await Ecs("DetachDisk", p33);
    EXPECT_EQ(CodeOf(r), "InvalidDiskCategory.NotSupported");
    Params p34 = {{"DiskId", d1}, {"SnapshotId", s1}};

    // ResetDisk: the snapshot's bytes again (a new volume under the same id).
    r = co_await Ecs("ResetDisk", p34);
    CO_ASSERT_API_OK(r);
    now = co_await InstanceRecord(inst->id);
    CO_ASSERT_EQ(now.disks.size(), 2u);
    EXPECT_EQ(now.disks[1].id, d1);
    EXPECT_NE(now.disks[1].volume, d1);
    bytes = co_await ReadVolume(now.disks[1].volume);
    CO_ASSERT_OK(bytes.status());
    EXPECT_TRUE(*bytes == first);
    disk = co_await Disk(d1);
    EXPECT_EQ(disk["Size"], 3);  // the disk keeps its grown size
    Params p35 = {{"DiskId", d2}, {"SnapshotId", s1}};
    r = co_await Ecs("ResetDisk", p35);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");  // not d2's snapshot
    Params p36 = {{"DiskId", d1}, {"InstanceId", inst->id}};

    // Detach: Available again, and deletable.
    r = co_await Ecs("DetachDisk", p36);
    CO_ASSERT_API_OK(r);
    now = co_await InstanceRecord(inst->id);
    EXPECT_FALSE(HasDisk(now, d1));
    disk = co_await Disk(d1);
    EXPECT_EQ(disk["Status"], "Available");
    Params p37 = {{"DiskId", d1}, {"InstanceId", inst->id}};
    r = co_await Ecs("DetachDisk", p37);
    EXPECT_EQ(CodeOf(r), "InvalidDisk.AlreadyDetached");
    Params p38 = {{"DiskId", d1}};
    r = co_await Ecs("DeleteDisk", p38);
    CO_ASSERT_API_OK(r);
    EXPECT_TRUE((co_await Disk(d1)).is_null());
    Params p39 = {{"DiskId", d1}};
    r = co_await Ecs("DeleteDisk", p39);
    EXPECT_EQ(CodeOf(r), "InvalidDiskId.NotFound");
    Params p40 = {{"DiskId", d2}};

    // Once no disk is made from it, the snapshot goes.
    r = co_await Ecs("DeleteDisk", p40);
    CO_ASSERT_API_OK(r);
    Params p41 = {{"SnapshotId", s1}};
    r = co_await Ecs("DeleteSnapshot", p41);
    CO_ASSERT_API_OK(r);
    Params p42 = {};
    r = co_await Ecs("DescribeSnapshots", p42);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    Params p43 = {{"SnapshotId", s1}};
    r = co_await Ecs("DeleteSnapshot", p43);
    EXPECT_EQ(CodeOf(r), "InvalidSnapshotId.NotFound");
  }());
}

}  // namespace
}  // namespace tg::api::testing
