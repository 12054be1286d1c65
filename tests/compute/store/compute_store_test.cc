// The compute store against real etcd and, where disks are made, a real
// storage cluster (three chunkservers): images imported through qemu-img
// read back byte for byte from a clone; instances get a cloned system disk,
// data disks and a vhost-user interface, and a failed create leaves nothing;
// deletes free everything; the small records are validated; concurrent
// read-modify-writes of one instance all land.
#include "compute/store/compute_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/process.h"
#include "storage/client/distributed_volume.h"
#include "storage/storage_cluster.h"
#include "support/etcd_fixture.h"
#include "support/pattern.h"

namespace tg::compute {
namespace {

using testing::RunTask;
using testing::StorageCluster;
using testing::TempDir;

// A real ed25519 public key (ssh-keygen -t ed25519).
constexpr std::string_view kPublicKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb5Xb0sI3I2H2Rk1yOV7g0y6hVYf1xWLzB7kS4qTtC1 test@host";

// A copy: `(co_await f()).status()` would refer into a temporary that is
// gone by the time an assertion prints it.
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void RunTool(std::vector<std::string> argv) {
  auto p = ChildProcess::Spawn({.argv = std::move(argv)});
  ASSERT_OK(p.status());
  auto st = p->Wait(60s);
  ASSERT_OK(st.status());
  ASSERT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << DescribeWaitStatus(*st);
}

// The whole content of volume `name`, opened as its writer.
Task<Result<std::vector<uint8_t>>> ReadVolume(etcd::Client& client, std::string name) {
  storage::DistributedVolumeOptions o{.volume = name, .holder = "test", .lease_ttl_seconds = 2};
  TG_CO_ASSIGN_OR_RETURN(auto v, co_await storage::OpenDistributedVolume(client, o));
  std::vector<uint8_t> out(v->size());
  Status s = co_await v->Read(0, out);
  co_await v->Close();
  TG_CO_RETURN_IF_ERROR(s);
  co_return out;
}

// The names of the volumes that are not being deleted.
Task<std::set<std::string>> LiveVolumes(storage::VolumeStore& volumes) {
  std::set<std::string> out;
  auto st = co_await volumes.Read();
  EXPECT_OK(st.status());
  if (!st.ok()) co_return out;
  for (const auto& [name, v] : st->volumes)
    if (v.record.state != storage::VolumeState::kDeleting) out.insert(name);
  co_return out;
}

Task<size_t> Interfaces(network::VpcStore& vpcs) {
  auto st = co_await vpcs.Read();
  EXPECT_OK(st.status());
  co_return st.ok() ? st->interfaces.size() : 999;
}

class ClusterTest : public ::testing::Test {
 protected:
  ClusterTest() : cluster_(io_, 1, 3), volumes_(cluster_.client()), vpcs_(cluster_.client()) {
    store_ = std::make_unique<ComputeStore>(cluster_.client(), volumes_, vpcs_);
  }
  // Until the master leads and every chunkserver has registered.
  Task<bool> Ready() {
    if (co_await cluster_.WaitForLeader(30s) < 0) co_return false;
    Status s = co_await cluster_.WaitRegistered(30s);
    EXPECT_OK(s);
    co_return s.ok();
  }
  // A raw image of `size` bytes, each block its own pattern.
  std::string RawImage(const std::string& name, size_t size, uint8_t seed) {
    const std::string path = dir_.path() + "/" + name;
    WriteFile(path, testing::PatternBytes(size, seed));
    return path;
  }
  Task<Result<Image>> Import(std::string name, std::string file) {
    ImportImageRequest r{.name = name, .file = file, .platform = "Debian"};
    co_return co_await store_->ImportImage(r);
  }

  asio::io_context io_;
  TempDir dir_;
  StorageCluster cluster_;
  storage::VolumeStore volumes_;
  network::VpcStore vpcs_;
  std::unique_ptr<ComputeStore> store_;
};

TEST_F(ClusterTest, ImagesAreImportedFromRawAndQcow2AndCloneToTheSameBytes) {
  const size_t raw_size = (1 << 20) + 512;  // whole sectors, not whole 4 KiB blocks
  const std::string raw = RawImage("disk.raw", raw_size, 3);
  const std::string qcow2 = dir_.path() + "/disk.qcow2";
  const std::string qcow2_source = RawImage("for-qcow2.raw", 2 << 20, 9);
  RunTool({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", qcow2_source, qcow2});
  const std::string text = dir_.path() + "/notes.txt";
  { std::ofstream(text) << "not a disk image\n"; }
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto before = co_await LiveVolumes(volumes_);
    for (const auto& [name, file, size, seed] :
         {std::tuple{"debian-raw", raw, raw_size, 3},
          std::tuple{"debian-qcow2", qcow2, size_t{2 << 20}, 9}}) {
      auto image = co_await Import(name, file);
      CO_ASSERT_OK(image.status());
      EXPECT_EQ(image->status, ImageStatus::kAvailable);
      EXPECT_EQ(image->size, size);
      EXPECT_EQ(image->snapshot, image->id);
      auto st = co_await store_->Read();
      CO_ASSERT_OK(st.status());
      CO_ASSERT_TRUE(st->images.count(image->id));
      EXPECT_EQ(st->images.at(image->id).value.status, ImageStatus::kAvailable);
      // A clone of its snapshot holds the file's bytes, then zeroes.
      storage::CloneVolumeRequest clone{.snapshot = image->snapshot, .name = "check-" + image->id};
      CO_ASSERT_OK(StatusOf(co_await volumes_.Clone(clone)));
      auto bytes = co_await ReadVolume(cluster_.client(), clone.name);
      CO_ASSERT_OK(bytes.status());
      CO_ASSERT_TRUE(bytes->size() >= size);
      const std::vector<uint8_t> want = testing::PatternBytes(size, static_cast<uint8_t>(seed));
      EXPECT_TRUE(std::equal(want.begin(), want.end(), bytes->begin())) << name;
      EXPECT_TRUE(std::all_of(bytes->begin() + static_cast<ptrdiff_t>(size), bytes->end(),
                              [](uint8_t b) { return b == 0; }));
      storage::DeleteVolumeRequest drop{.name = clone.name};
      CO_ASSERT_OK(co_await volumes_.Delete(drop));
    }
    // The import volumes went; the snapshots stay.
    auto after = co_await LiveVolumes(volumes_);
    EXPECT_EQ(after.size(), before.size() + 2);
    for (const auto& v : after) EXPECT_FALSE(v.starts_with("image-")) << v;

    // A second image of a taken name is refused before anything is made.
    auto again = co_await Import("debian-raw", raw);
    EXPECT_EQ(again.status().code(), ErrorCode::kAlreadyExists) << again.status();
    // Not a disk: refused with a clear reason, nothing made.
    auto notes = co_await Import("notes", text);
    EXPECT_EQ(notes.status().code(), ErrorCode::kInvalidArgument) << notes.status();
    EXPECT_NE(notes.status().message().find("not whole 512-byte sectors"), std::string::npos)
        << notes.status();
    auto missing = co_await Import("missing", dir_.path() + "/no-such-file");
    EXPECT_FALSE(missing.ok());
    // A qcow2 over a backing file would read another file of the host.
    const std::string overlay = dir_.path() + "/overlay.qcow2";
    RunTool({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", raw, overlay});
    auto backed = co_await Import("overlay", overlay);
    EXPECT_EQ(backed.status().code(), ErrorCode::kInvalidArgument) << backed.status();
    EXPECT_NE(backed.status().message().find("backing file"), std::string::npos);
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(st->images.size(), 2u);
    EXPECT_EQ(co_await LiveVolumes(volumes_), after);

    // A copy that fails once the record is written: the image is
    // CreateFailed with the reason, and its volumes are gone again.
    {
      const std::string tool = dir_.path() + "/broken-qemu-img";
      std::ofstream(tool) << "#!/bin/sh\n"
                             "if [ \"$1\" = convert ]; then echo 'convert broke' >&2; exit 1; fi\n"
                             "exec qemu-img \"$@\"\n";
      std::filesystem::permissions(tool, std::filesystem::perms::owner_all);
      ComputeStore broken(cluster_.client(), volumes_, vpcs_, {.qemu_img = tool});
      ImportImageRequest r{.name = "broken", .file = raw};
      auto failed = co_await broken.ImportImage(r);
      EXPECT_FALSE(failed.ok());
      EXPECT_NE(failed.status().message().find("convert broke"), std::string::npos)
          << failed.status();
      st = co_await store_->Read();
      CO_ASSERT_OK(st.status());
      CO_ASSERT_EQ(st->images.size(), 3u);
      const Image* record = nullptr;
      for (const auto& [id, e] : st->images)
        if (e.value.name == "broken") record = &e.value;
      CO_ASSERT_TRUE(record != nullptr);
      EXPECT_EQ(record->status, ImageStatus::kCreateFailed);
      EXPECT_NE(record->status_reason.find("convert broke"), std::string::npos);
      EXPECT_EQ(co_await LiveVolumes(volumes_), after);
      CO_ASSERT_OK(co_await store_->DeleteImage("broken"));
    }

    // Deleting an unused image deletes its snapshot and frees its name.
    CO_ASSERT_OK(co_await store_->DeleteImage("debian-qcow2"));
    EXPECT_EQ((co_await LiveVolumes(volumes_)).size(), after.size() - 1);
    EXPECT_EQ((co_await store_->DeleteImage("debian-qcow2")).code(), ErrorCode::kNotFound);
    CO_ASSERT_OK(StatusOf(co_await Import("debian-qcow2", qcow2)));
  }());
}

TEST_F(ClusterTest, InstancesGetTheirDisksAndInterfaceAndLeaveNothingWhenDeleted) {
  const std::string raw = RawImage("disk.raw", 3 << 20, 5);
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    auto image = co_await Import("base", raw);
    CO_ASSERT_OK(image.status());
    auto vpc = co_await vpcs_.CreateVpc("v", *network::ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    auto vsw = co_await vpcs_.CreateVSwitch(vpc->id, *network::ParseCidr("10.0.1.0/24"), "zone-a");
    CO_ASSERT_OK(vsw.status());
    auto sg = co_await vpcs_.CreateSecurityGroup(vpc->id, "web");
    CO_ASSERT_OK(sg.status());
    const auto volumes_before = co_await LiveVolumes(volumes_);

    CreateInstanceRequest r{.name = "web-1",
                            .type = "ecs.t6-c1m1.small",
                            .image = "base",  // by name
                            .vswitch = vsw->id,
                            .security_groups = {sg->id},
                            .private_ip = *network::ParseIpv4("10.0.1.20"),
                            .system_disk_size = 8 << 20,
                            .data_disks = {4 << 20},
                            .user_data = "I2Nsb3VkLWNvbmZpZwo="};
    auto inst = co_await store_->CreateInstance(r);
    CO_ASSERT_OK(inst.status());
    EXPECT_TRUE(inst->id.starts_with("i-"));
    EXPECT_EQ(inst->status, InstanceStatus::kPending);
    EXPECT_EQ(inst->desired, PowerState::kRunning);
    EXPECT_EQ(inst->host, "");
    EXPECT_EQ(inst->zone, "zone-a");
    EXPECT_EQ(inst->image, image->id);
    EXPECT_EQ(inst->resources.vcpus, 1u);
    EXPECT_EQ(inst->resources.memory_mib, 512u);
    CO_ASSERT_EQ(inst->disks.size(), 2u);
    EXPECT_TRUE(inst->disks[0].system);
    EXPECT_EQ(inst->disks[0].size, 8u << 20);
    EXPECT_EQ(inst->disks[1].size, 4u << 20);
    // The system disk is a clone of the image: its bytes, grown with zeroes.
    auto sys = co_await ReadVolume(cluster_.client(), inst->disks[0].volume);
    CO_ASSERT_OK(sys.status());
    CO_ASSERT_EQ(sys->size(), 8u << 20);
    const std::vector<uint8_t> want = testing::PatternBytes(3 << 20, 5);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), sys->begin()));
    // The primary interface: vhost-user, not bound to a host yet.
    CO_ASSERT_EQ(inst->nics.size(), 1u);
    auto net = co_await vpcs_.Read();
    CO_ASSERT_OK(net.status());
    CO_ASSERT_TRUE(net->interfaces.count(inst->nics[0].eni));
    const network::NetworkInterface& eni = net->interfaces.at(inst->nics[0].eni).value;
    EXPECT_EQ(eni.port, network::kPortVhostUser);
    EXPECT_EQ(eni.host, "");
    EXPECT_EQ(eni.instance, inst->id);
    EXPECT_EQ(eni.ip.ToString(), "10.0.1.20");
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    CO_ASSERT_TRUE(st->instances.count(inst->id));
    EXPECT_EQ(st->instances.at(inst->id).value.disks[0].volume, inst->disks[0].volume);

    // Bad references: a clear NotFound, and nothing made.
    const auto volumes_with = co_await LiveVolumes(volumes_);
    const size_t enis_with = co_await Interfaces(vpcs_);
    for (int bad = 0; bad < 5; ++bad) {
      CreateInstanceRequest b = r;
      b.private_ip.reset();
      if (bad == 0) b.type = "ecs.no-such.type";
      if (bad == 1) b.image = "m-nosuchimage";
      if (bad == 2) b.vswitch = "vsw-nosuchvswitch";
      if (bad == 3) b.security_groups = {"sg-nosuchgroup"};
      if (bad == 4) b.key_pair = "no-such-key";
      auto made = co_await store_->CreateInstance(b);
      EXPECT_EQ(made.status().code(), ErrorCode::kNotFound) << bad << " " << made.status();
    }
    CreateInstanceRequest small = r;
    small.private_ip.reset();
    small.system_disk_size = 1 << 20;  // smaller than the image
    EXPECT_EQ((co_await store_->CreateInstance(small)).status().code(),
              ErrorCode::kInvalidArgument);
    small.system_disk_size = 0;
    small.user_data = "not base64!";
    EXPECT_EQ((co_await store_->CreateInstance(small)).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(co_await LiveVolumes(volumes_), volumes_with);
    EXPECT_EQ(co_await Interfaces(vpcs_), enis_with);

    // The image is in use.
    EXPECT_EQ((co_await store_->DeleteImage(image->id)).code(), ErrorCode::kFailedPrecondition);
    // Power requests as ECS allows them.
    EXPECT_EQ((co_await store_->StartInstance(inst->id)).code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->RebootInstance(inst->id, false)).code(),
              ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await store_->StopInstance(inst->id, false));
    EXPECT_EQ((co_await store_->StopInstance(inst->id, false)).code(),
              ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await store_->StartInstance(inst->id));

    // Hot-plug edits: a volume of its own, a second interface.
    storage::CreateVolumeRequest extra{.name = "extra", .size = 1 << 20};
    CO_ASSERT_OK(StatusOf(co_await volumes_.Create(extra)));
    auto disk = co_await store_->AttachDisk(inst->id, "extra");
    CO_ASSERT_OK(disk.status());
    EXPECT_FALSE(disk->delete_with_instance);
    EXPECT_EQ((co_await store_->AttachDisk(inst->id, "extra")).status().code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->AttachDisk(inst->id, image->snapshot)).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((co_await store_->DetachDisk(inst->id, inst->disks[0].id)).code(),
              ErrorCode::kFailedPrecondition);
    const std::vector<std::string> groups{sg->id};
    auto second = co_await store_->AttachNewInterface(inst->id, vsw->id, groups);
    CO_ASSERT_OK(second.status());
    CO_ASSERT_OK(co_await store_->DetachInterface(inst->id, second->id));
    EXPECT_EQ((co_await store_->DetachInterface(inst->id, eni.id)).code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ(co_await Interfaces(vpcs_), enis_with);

    // Deleting an unbound instance removes its disks and interface at once,
    // but not a volume it was only lent.
    CO_ASSERT_OK(co_await store_->DeleteInstance(inst->id, false));
    st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_TRUE(st->instances.empty());
    auto left = co_await LiveVolumes(volumes_);
    left.erase("extra");
    EXPECT_EQ(left, volumes_before);
    EXPECT_EQ(co_await Interfaces(vpcs_), 0u);
    // The volume is free for another instance; the image for deleting.
    CreateInstanceRequest next = r;
    next.private_ip.reset();
    next.data_disks.clear();
    auto other = co_await store_->CreateInstance(next);
    CO_ASSERT_OK(other.status());
    CO_ASSERT_OK(StatusOf(co_await store_->AttachDisk(other->id, "extra", true)));

    // A bound one is torn down by its agent: delete marks it, and only
    // with force while it is not Stopped. (Its node has a record: the
    // cluster's scheduler would take an instance off a node without one.)
    const ComputeNode node_a{.name = "node-a", .zone = "z9", .host = "node-a"};
    const std::string node_record = EncodeComputeNode(node_a);
    CO_ASSERT_TRUE((co_await cluster_.client().Put(NodeKey("node-a"), node_record)).ok());
    std::function<Status(Instance&)> bind = [](Instance& v) {
      v.host = "node-a";
      v.status = InstanceStatus::kRunning;
      return Status::Ok();
    };
    CO_ASSERT_OK(StatusOf(co_await store_->UpdateInstance(other->id, bind)));
    CO_ASSERT_OK(co_await store_->RebootInstance(other->id, false));
    EXPECT_EQ((co_await store_->DeleteInstance(other->id, false)).code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->FinishDelete(other->id)).code(), ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await store_->DeleteInstance(other->id, true));
    st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    const Instance& marked = st->instances.at(other->id).value;
    EXPECT_TRUE(marked.deleting);
    EXPECT_TRUE(marked.force_stop);
    EXPECT_EQ(marked.desired, PowerState::kStopped);
    EXPECT_EQ(marked.reboot_requests, 1u);
    CO_ASSERT_OK(co_await store_->FinishDelete(other->id));
    EXPECT_EQ(co_await LiveVolumes(volumes_), volumes_before);
    EXPECT_EQ(co_await Interfaces(vpcs_), 0u);
    CO_ASSERT_OK(co_await store_->DeleteImage(image->id));
  }());
}

// The records that need no disks: against etcd alone.
class RecordsTest : public testing::EtcdFixture {
 protected:
  void SetUp() override {
    EtcdFixture::SetUp();
    volumes_ = std::make_unique<storage::VolumeStore>(*client_);
    vpcs_ = std::make_unique<network::VpcStore>(*client_);
    store_ = std::make_unique<ComputeStore>(*client_, *volumes_, *vpcs_);
  }
  void TearDown() override {
    store_.reset();
    vpcs_.reset();
    volumes_.reset();
    EtcdFixture::TearDown();
  }
  // An instance record written as the store would have.
  Task<void> PutInstance(const Instance& v) {
    CO_ASSERT_OK(StatusOf(co_await client_->Put(InstanceKey(v.id), EncodeInstance(v))));
  }

  std::unique_ptr<storage::VolumeStore> volumes_;
  std::unique_ptr<network::VpcStore> vpcs_;
  std::unique_ptr<ComputeStore> store_;
};

// The API's additions: an import with a chosen id, images over a snapshot
// (their own snapshot: the source may go) and over a volume, a disk attached
// under a given id, and a Stopped instance's disk swapped to another volume.
TEST_F(ClusterTest, ImagesFromDisksAndDiskVolumeSwaps) {
  const std::string raw = RawImage("disk.raw", 2 << 20, 9);
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    ImportImageRequest import{
        .name = "chosen", .file = raw, .os_type = "linux", .id = "m-chosenidchosenid0001"};
    auto image = co_await store_->ImportImage(import);
    CO_ASSERT_OK(image.status());
    EXPECT_EQ(image->id, "m-chosenidchosenid0001");
    ImportImageRequest again{.name = "other", .file = raw, .id = "m-chosenidchosenid0001"};
    EXPECT_EQ(StatusOf(co_await store_->ImportImage(again)).code(), ErrorCode::kAlreadyExists);
    ImportImageRequest bad_id{.name = "other", .file = raw, .id = "x-1"};
    EXPECT_EQ(StatusOf(co_await store_->ImportImage(bad_id)).code(), ErrorCode::kInvalidArgument);

    // A snapshot of a written volume; an image over it keeps the bytes after
    // the snapshot is deleted.
    storage::CreateVolumeRequest create{.name = "data", .size = 2 << 20};
    CO_ASSERT_OK(StatusOf(co_await volumes_.Create(create)));
    const std::vector<uint8_t> bytes = testing::PatternBytes(2 << 20, 3);
    {
      storage::DistributedVolumeOptions o{
          .volume = "data", .holder = "test", .lease_ttl_seconds = 2};
      auto v = co_await storage::OpenDistributedVolume(cluster_.client(), o);
      CO_ASSERT_OK(v.status());
      CO_ASSERT_OK(co_await (*v)->Write(0, bytes));
      CO_ASSERT_OK(co_await (*v)->Flush());
      co_await (*v)->Close();
    }
    CO_ASSERT_OK(StatusOf(co_await volumes_.Snapshot("data", "s-snap")));
    DiskImageRequest from_snapshot{.name = "from-snap", .snapshot = "s-snap"};
    auto img = co_await store_->CreateImageFromDisk(from_snapshot);
    CO_ASSERT_OK(img.status());
    EXPECT_EQ(img->status, ImageStatus::kAvailable);
    EXPECT_EQ(img->size, 2u << 20);
    storage::DeleteVolumeRequest drop{.name = "s-snap", .force = true};
    CO_ASSERT_OK(co_await volumes_.Delete(drop));
    storage::CloneVolumeRequest clone{.snapshot = img->snapshot, .name = "check"};
    CO_ASSERT_OK(StatusOf(co_await volumes_.Clone(clone)));
    auto got = co_await ReadVolume(cluster_.client(), "check");
    CO_ASSERT_OK(got.status());
    EXPECT_TRUE(*got == bytes);
    DiskImageRequest from_volume{.name = "from-volume", .volume = "data"};
    auto img2 = co_await store_->CreateImageFromDisk(from_volume);
    CO_ASSERT_OK(img2.status());
    EXPECT_EQ(img2->status, ImageStatus::kAvailable);
    DiskImageRequest both{.name = "both", .snapshot = img->snapshot, .volume = "data"};
    EXPECT_EQ(StatusOf(co_await store_->CreateImageFromDisk(both)).code(),
              ErrorCode::kInvalidArgument);
    DiskImageRequest taken{.name = "from-snap", .volume = "data"};
    EXPECT_EQ(StatusOf(co_await store_->CreateImageFromDisk(taken)).code(),
              ErrorCode::kAlreadyExists);
    DiskImageRequest not_snapshot{.name = "nope", .snapshot = "data"};
    EXPECT_EQ(StatusOf(co_await store_->CreateImageFromDisk(not_snapshot)).code(),
              ErrorCode::kInvalidArgument);

    // An instance (Pending, unbound); "data" attached under a chosen id.
    auto vpc = co_await vpcs_.CreateVpc("v", *network::ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    auto vsw = co_await vpcs_.CreateVSwitch(vpc->id, *network::ParseCidr("10.0.1.0/24"), "zone-a");
    CO_ASSERT_OK(vsw.status());
    auto sg = co_await vpcs_.CreateSecurityGroup(vpc->id, "sg");
    CO_ASSERT_OK(sg.status());
    CreateInstanceRequest r{.type = "ecs.t6-c1m1.small",
                            .image = "chosen",
                            .vswitch = vsw->id,
                            .security_groups = {sg->id},
                            .start = false};
    auto inst = co_await store_->CreateInstance(r);
    CO_ASSERT_OK(inst.status());
    auto disk = co_await store_->AttachDisk(inst->id, "data", false, "d-chosen");
    CO_ASSERT_OK(disk.status());
    EXPECT_EQ(disk->id, "d-chosen");
    EXPECT_EQ(disk->volume, "data");
    CO_ASSERT_OK(StatusOf(co_await volumes_.Snapshot("check", "s-two")));
    storage::CloneVolumeRequest fresh{.snapshot = "s-two", .name = "data-2"};
    CO_ASSERT_OK(StatusOf(co_await volumes_.Clone(fresh)));
    // Not while it may run.
    EXPECT_EQ((co_await store_->ReplaceDiskVolume(inst->id, "d-chosen", "data-2")).code(),
              ErrorCode::kFailedPrecondition);
    std::function<Status(Instance&)> stopped = [](Instance& i) {
      i.status = InstanceStatus::kStopped;
      return Status::Ok();
    };
    CO_ASSERT_OK(StatusOf(co_await store_->UpdateInstance(inst->id, stopped)));
    EXPECT_EQ((co_await store_->ReplaceDiskVolume(inst->id, "d-nosuch", "data-2")).code(),
              ErrorCode::kNotFound);
    CO_ASSERT_OK(co_await store_->ReplaceDiskVolume(inst->id, "d-chosen", "data-2"));
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    const Instance& now = st->instances.at(inst->id).value;
    CO_ASSERT_EQ(now.disks.size(), 2u);
    EXPECT_EQ(now.disks[1].id, "d-chosen");
    EXPECT_EQ(now.disks[1].volume, "data-2");
    const auto live = co_await LiveVolumes(volumes_);
    EXPECT_FALSE(live.count("data"));  // the old volume goes
    EXPECT_TRUE(live.count("data-2"));
    auto owner = co_await cluster_.client().Get(DiskVolumeKey("data-2"));
    CO_ASSERT_OK(owner.status());
    CO_ASSERT_EQ(owner->kvs.size(), 1u);
    EXPECT_EQ(owner->kvs[0].value, inst->id);
    // A volume that is another disk already is refused.
    EXPECT_EQ(
        (co_await store_->ReplaceDiskVolume(inst->id, "d-chosen", now.disks[0].volume)).code(),
        ErrorCode::kFailedPrecondition);
  }());
}

TEST_F(RecordsTest, KeyPairsTypesAndDeploymentSetsAreChecked) {
  RunTask(io_, [&]() -> Task<void> {
    auto k = co_await store_->ImportKeyPair("laptop", std::string(kPublicKey) + "\n");
    CO_ASSERT_OK(k.status());
    EXPECT_EQ(k->public_key, kPublicKey);
    EXPECT_EQ(k->fingerprint.size(), 47u);  // 16 hex pairs and 15 colons
    EXPECT_EQ((co_await store_->ImportKeyPair("laptop", std::string(kPublicKey))).status().code(),
              ErrorCode::kAlreadyExists);
    for (const char* bad : {"ssh-ed25519 not-base64", "ssh-dss AAAAB3NzaC1kc3MAAAA=", "",
                            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 x\nssh-rsa AAAA y"}) {
      EXPECT_EQ((co_await store_->ImportKeyPair("bad", bad)).status().code(),
                ErrorCode::kInvalidArgument)
          << bad;
    }
    EXPECT_EQ((co_await store_->ImportKeyPair("1starts-with-digit", std::string(kPublicKey)))
                  .status()
                  .code(),
              ErrorCode::kInvalidArgument);
    CO_ASSERT_OK(co_await store_->DeleteKeyPair("laptop"));
    EXPECT_EQ((co_await store_->DeleteKeyPair("laptop")).code(), ErrorCode::kNotFound);

    InstanceType big{.name = "ecs.ops.big", .family = "ecs.ops", .vcpus = 8, .memory_mib = 16384};
    CO_ASSERT_OK(co_await store_->AddInstanceType(big));
    EXPECT_EQ((co_await store_->AddInstanceType(big)).code(), ErrorCode::kAlreadyExists);
    InstanceType builtin = BuiltinInstanceTypes().front();
    EXPECT_EQ((co_await store_->AddInstanceType(builtin)).code(), ErrorCode::kAlreadyExists);
    InstanceType odd{.name = "ecs.ops.odd", .family = "ecs.ops", .vcpus = 1, .memory_mib = 100};
    EXPECT_EQ((co_await store_->AddInstanceType(odd)).code(), ErrorCode::kInvalidArgument);
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(st->types.size(), 1u);
    EXPECT_TRUE(FindInstanceType("ecs.ops.big", st->OperatorTypes()).ok());
    EXPECT_EQ((co_await store_->DeleteInstanceType(builtin.name)).code(),
              ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await store_->DeleteInstanceType("ecs.ops.big"));
    EXPECT_EQ((co_await store_->DeleteInstanceType("ecs.ops.big")).code(), ErrorCode::kNotFound);

    EXPECT_EQ((co_await store_->CreateDeploymentSet("spread", "zone")).status().code(),
              ErrorCode::kInvalidArgument);
    auto ds = co_await store_->CreateDeploymentSet("spread", "rack");
    CO_ASSERT_OK(ds.status());
    EXPECT_TRUE(ds->id.starts_with("ds-"));
    Instance member{.id = "i-member0000000000000000",
                    .type = "ecs.t6-c1m1.small",
                    .image = "m-x",
                    .zone = "z",
                    .deployment_set = ds->id};
    co_await PutInstance(member);
    EXPECT_EQ((co_await store_->DeleteDeploymentSet(ds->id)).code(),
              ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(StatusOf(co_await client_->Delete(InstanceKey(member.id))));
    CO_ASSERT_OK(co_await store_->DeleteDeploymentSet(ds->id));
    EXPECT_EQ((co_await store_->DeleteDeploymentSet(ds->id)).code(), ErrorCode::kNotFound);
  }());
}

Task<void> AddTag(ComputeStore& store, std::string id, int n, int& done) {
  std::function<Status(Instance&)> tag = [n](Instance& v) {
    v.tags[fmt::format("t{}", n)] = "x";
    ++v.reboot_requests;
    return Status::Ok();
  };
  auto r = co_await store.UpdateInstance(id, tag);
  EXPECT_OK(r.status());
  ++done;
}

TEST_F(RecordsTest, ConcurrentUpdatesOfOneInstanceAllLand) {
  RunTask(io_, [&]() -> Task<void> {
    Instance v{
        .id = "i-concurrent000000000000", .type = "ecs.t6-c1m1.small", .image = "m-x", .zone = "z"};
    co_await PutInstance(v);
    constexpr int kWriters = 12;
    int done = 0;
    Executor ex = co_await asio::this_coro::executor;
    TaskGroup writers(ex);
    for (int i = 0; i < kWriters; ++i) writers.Spawn("tag", AddTag(*store_, v.id, i, done));
    co_await writers.Join();
    EXPECT_EQ(done, kWriters);
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    const Instance& now = st->instances.at(v.id).value;
    EXPECT_EQ(now.tags.size(), static_cast<size_t>(kWriters)) << "an update was lost";
    EXPECT_EQ(now.reboot_requests, static_cast<uint64_t>(kWriters));
    // A caller's condition that fails stops the write (Cancelled), unwritten.
    std::function<Status(Instance&)> clear = [](Instance& i) {
      i.tags.clear();
      return Status::Ok();
    };
    const std::vector<etcd::Compare> fence{etcd::Compare::Missing(InstanceKey(v.id))};
    EXPECT_EQ((co_await store_->UpdateInstance(v.id, clear, fence)).status().code(),
              ErrorCode::kCancelled);
    EXPECT_EQ((co_await store_->UpdateInstance("i-nosuchinstance", clear)).status().code(),
              ErrorCode::kNotFound);
    // A record under another instance's key is refused, never rewritten.
    Instance copied = v;
    copied.id = "i-someoneelse00000000000";
    CO_ASSERT_OK(StatusOf(co_await client_->Put(InstanceKey("i-copy"), EncodeInstance(copied))));
    EXPECT_EQ((co_await store_->UpdateInstance("i-copy", clear)).status().code(),
              ErrorCode::kInvalidArgument);
  }());
}

}  // namespace
}  // namespace tg::compute
