// The ECS image and key pair actions against a real storage cluster (etcd,
// a server, three chunkservers), the real compute store and qemu-img:
// ImportImage from a file under an import directory and from an http://
// URL served by a python3 http.server this test starts on loopback (and
// kills by its PID), refused outside the import directories and, unless
// allowed, from private addresses; the task record goes Finished; system
// images (no owner) beside the caller's own; CreateImage from a snapshot;
// DeleteImage refused while an instance uses the image; key pairs made,
// imported, listed and deleted, per account.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "api/service/handler_util.h"
#include "api_fixture.h"
#include "base/process.h"
#include "network/model/address.h"
#include "support/pattern.h"

namespace tg::api::testing {
namespace {

// A real ed25519 public key (ssh-keygen -t ed25519).
constexpr std::string_view kPublicKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb5Xb0sI3I2H2Rk1yOV7g0y6hVYf1xWLzB7kS4qTtC1 test@host";

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class ImageActionsTest : public ApiTest {
 protected:
  ImageActionsTest() : ApiTest(3) {}

  // The image as DescribeImages (any status) shows it to `as`, or null.
  Task<Json> Image(const std::string& id, const Account* as = nullptr) {
    Params params{{"ImageId", id}, {"Status", "ALL"}};
    auto r = co_await Ecs("DescribeImages", params, as);
    EXPECT_TRUE(r.ok()) << CodeOf(r);
    if (!r.ok() || (*r)["Images"]["Image"].empty()) co_return Json();
    co_return (*r)["Images"]["Image"][0];
  }
  // Until the image leaves Waiting/Creating; its final status.
  Task<std::string> WaitImage(const std::string& id) {
    asio::steady_timer timer(io_);
    for (int i = 0; i < 600; ++i) {
      Json m = co_await Image(id);
      if (!m.is_object()) co_return "gone";
      const std::string status = m["Status"];
      if (status != "Waiting" && status != "Creating") co_return status;
      timer.expires_after(100ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return "timeout";
  }
  Task<ResourceRecord> TaskRecord(const std::string& id) {
    auto r = co_await registry_.Get(a_.id, id);
    EXPECT_TRUE(r.ok() && r->has_value());
    co_return r.ok() && r->has_value() ? **r : ResourceRecord{};
  }
  Params Import(const std::string& bucket, const std::string& object, const std::string& name) {
    return {{"DiskDeviceMapping.1.OSSBucket", bucket},
            {"DiskDeviceMapping.1.OSSObject", object},
            {"DiskDeviceMapping.1.Format", "RAW"},
            {"ImageName", name},
            {"OSType", "linux"},
            {"Platform", "Debian"},
            {"Architecture", "x86_64"}};
  }
};

TEST_F(ImageActionsTest, ImportsCreatesDescribesAndDeletesImages) {
  const std::string raw = dir_.path() + "/disk.raw";
  WriteFile(raw, tg::testing::PatternBytes(4 << 20, 7));
  tg::testing::RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    compute::ImportImageRequest system{.name = "debian-12", .file = raw, .platform = "Debian"};
    auto sys = co_await compute_->ImportImage(system);
    CO_ASSERT_OK(sys.status());
    Params p1 = {};

    // The operator's image is every account's system image.
    auto r = co_await Ecs("DescribeImages", p1);
    CO_ASSERT_API_OK(r);
    CO_ASSERT_EQ((*r)["Images"]["Image"].size(), 1u);
    Json m = (*r)["Images"]["Image"][0];
    EXPECT_EQ(m["ImageId"], sys->id);
    EXPECT_EQ(m["ImageName"], "debian-12");
    EXPECT_EQ(m["ImageOwnerAlias"], "system");
    EXPECT_EQ(m["Status"], "Available");
    EXPECT_EQ(m["Progress"], "100%");
    EXPECT_EQ(m["Usable"], true);
    EXPECT_EQ(m["OSType"], "linux");
    EXPECT_EQ(m["Platform"], "Debian");
    EXPECT_EQ(m["Architecture"], "x86_64");
    EXPECT_EQ(m["Size"], 1);
    EXPECT_EQ(m["DiskDeviceMappings"]["DiskDeviceMapping"][0]["Size"], "1");
    EXPECT_EQ(m["DiskDeviceMappings"]["DiskDeviceMapping"][0]["Device"], "/dev/xvda");
    EXPECT_EQ((*r)["TotalCount"], 1);
    EXPECT_EQ((*r)["PageNumber"], 1);
    Params p2 = {{"ImageOwnerAlias", "self"}};
    r = co_await Ecs("DescribeImages", p2);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    Params p3 = {{"ImageOwnerAlias", "everyone"}};
    r = co_await Ecs("DescribeImages", p3);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");
    Params p4 = {};
    r = co_await Ecs("DescribeImages", p4, &b_);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 1);
    Params p5 = {{"ImageName", "x1"}};

    // Import parameters and paths.
    r = co_await Ecs("ImportImage", p5);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    auto vhd = Import("local", raw, "x1");
    vhd["DiskDeviceMapping.1.Format"] = "VHD";
    r = co_await Ecs("ImportImage", vhd);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");
    r = co_await Ecs("ImportImage", Import("my-bucket", "disk.raw", "x1"));
    EXPECT_EQ(CodeOf(r), "InvalidParameter");  // there is no OSS
    r = co_await Ecs("ImportImage", Import("local", "/etc/hostname", "x1"));
    EXPECT_EQ(CodeOf(r), "InvalidParameter");
    const std::string escape = dir_.path() + "/../" +
                               std::filesystem::path(dir_.path()).filename().string() +
                               "-not/../../etc/hostname";
    r = co_await Ecs("ImportImage", Import("local", escape, "x1"));
    EXPECT_EQ(CodeOf(r), "InvalidParameter");

    // From a local file: answered at once, Available after, task Finished.
    r = co_await Ecs("ImportImage", Import("local", raw, "mine"));
    CO_ASSERT_API_OK(r);
    const std::string mine = (*r)["ImageId"];
    const std::string task = (*r)["TaskId"];
    EXPECT_TRUE(mine.starts_with("m-"));
    EXPECT_TRUE(task.starts_with("t-"));
    EXPECT_EQ(co_await WaitImage(mine), "Available");
    m = co_await Image(mine);
    EXPECT_EQ(m["ImageName"], "mine");
    EXPECT_EQ(m["ImageOwnerAlias"], "self");
    EXPECT_EQ(m["Platform"], "Debian");
    ResourceRecord t = co_await TaskRecord(task);
    EXPECT_EQ(t.kind, kind::kTask);
    EXPECT_EQ(t.extra["action"], "ImportImage");
    EXPECT_EQ(t.extra["status"], "Finished");
    EXPECT_EQ(t.extra["resource"], mine);
    EXPECT_GT(t.extra["finished_at"].get<int64_t>(), 0);
    r = co_await Ecs("ImportImage", Import("local", raw, "mine"));
    EXPECT_EQ(CodeOf(r), "InvalidImageName.Duplicated");
    EXPECT_TRUE((co_await Image(mine, &b_)).is_null());
    Params p6 = {{"ImageId", mine}};
    r = co_await Ecs("DeleteImage", p6, &b_);
    EXPECT_EQ(CodeOf(r), "InvalidImageId.NotFound");
    Params p7 = {{"ImageId", sys->id}};
    r = co_await Ecs("DeleteImage", p7);
    EXPECT_EQ(CodeOf(r), "InvalidImageId.NotFound");  // the operator's

    // From http:// on loopback: refused unless private addresses are allowed.
    const std::string log = dir_.path() + "/http.log";
    auto server = ChildProcess::Spawn({.argv = {"python3", "-u", "-m", "http.server", "0", "--bind",
                                                "127.0.0.1", "--directory", dir_.path()},
                                       .output_path = log});
    CO_ASSERT_OK(server.status());
    std::string port;
    asio::steady_timer timer(io_);
    for (int i = 0; i < 200 && port.empty(); ++i) {
      std::smatch match;
      const std::string text = ReadText(log);
      if (std::regex_search(text, match, std::regex("port ([0-9]+)"))) port = match[1];
      timer.expires_after(50ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    CO_ASSERT_TRUE(!port.empty());
    const std::string url = "http://127.0.0.1:" + port + "/disk.raw";
    r = co_await Ecs("ImportImage", Import("", url, "private"));
    CO_ASSERT_API_OK(r);
    const std::string refused = (*r)["ImageId"], refused_task = (*r)["TaskId"];
    EXPECT_EQ(co_await WaitImage(refused), "CreateFailed");
    t = co_await TaskRecord(refused_task);
    EXPECT_EQ(t.extra["status"], "Failed");
    settings_.import_private_urls = true;
    r = co_await Ecs("ImportImage", Import("", url, "fetched"));
    CO_ASSERT_API_OK(r);
    const std::string fetched = (*r)["ImageId"], fetched_task = (*r)["TaskId"];
    EXPECT_EQ(co_await WaitImage(fetched), "Available");
    t = co_await TaskRecord(fetched_task);
    EXPECT_EQ(t.extra["status"], "Finished");
    r = co_await Ecs("ImportImage", Import("", "http://127.0.0.1:" + port + "/none.raw", "gone"));
    CO_ASSERT_API_OK(r);
    const std::string missing = (*r)["ImageId"];
    EXPECT_EQ(co_await WaitImage(missing), "CreateFailed");  // HTTP 404
    CO_ASSERT_OK(server->Signal(SIGTERM));
    Params p8 = {{"ImageId", missing}};
    r = co_await Ecs("DeleteImage", p8);
    CO_ASSERT_API_OK(r);

    // CreateImage from a snapshot of a disk; the snapshot is then the image's.
    Params p9 = {{"ZoneId", "zone-a"}, {"Size", "1"}, {"DiskCategory", "cloud_auto"}};
    r = co_await Ecs("CreateDisk", p9);
    CO_ASSERT_API_OK(r);
    const std::string disk = (*r)["DiskId"];
    std::string snapshot;
    for (int i = 0; i < 300 && snapshot.empty(); ++i) {
      Params p10 = {{"DiskId", disk}};
      r = co_await Ecs("CreateSnapshot", p10);
      if (r.ok()) snapshot = (*r)["SnapshotId"];
      timer.expires_after(100ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    CO_ASSERT_TRUE(!snapshot.empty());
    Params p11 = {{"ImageName", "x2"}};
    r = co_await Ecs("CreateImage", p11);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p12 = {{"SnapshotId", snapshot}};
    r = co_await Ecs("CreateImage", p12, &b_);
    EXPECT_EQ(CodeOf(r), "InvalidSnapshotId.NotFound");
    Params p13 = {{"DiskDeviceMapping.1.SnapshotId", snapshot},
                  {"ImageName", "from-snap"},
                  {"Description", "made from a snapshot"}};
    r = co_await Ecs("CreateImage", p13);
    CO_ASSERT_API_OK(r);
    const std::string from_snap = (*r)["ImageId"];
    m = co_await Image(from_snap);
    EXPECT_EQ(m["Status"], "Available");
    EXPECT_EQ(m["ImageName"], "from-snap");
    EXPECT_EQ(m["Description"], "made from a snapshot");
    EXPECT_EQ(m["Size"], 1);
    EXPECT_EQ(m["DiskDeviceMappings"]["DiskDeviceMapping"][0]["SnapshotId"], snapshot);
    Params p14 = {{"SnapshotIds", "[\"" + snapshot + "\"]"}};
    r = co_await Ecs("DescribeSnapshots", p14);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["Snapshots"]["Snapshot"][0]["Usage"], "image");
    Params p15 = {{"SnapshotId", snapshot}, {"Force", "true"}};
    r = co_await Ecs("DeleteSnapshot", p15);
    EXPECT_EQ(CodeOf(r), "SnapshotCreatedImage");
    Params p16 = {{"ImageOwnerAlias", "self"}};
    r = co_await Ecs("DescribeImages", p16);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 3);  // mine, fetched, from-snap (failed ones are not Available)

    // An image an instance uses stays.
    auto vpc = co_await vpcs_.CreateVpc("v", *network::ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    auto vsw = co_await vpcs_.CreateVSwitch(vpc->id, *network::ParseCidr("10.0.1.0/24"), "zone-a");
    CO_ASSERT_OK(vsw.status());
    auto sg = co_await vpcs_.CreateSecurityGroup(vpc->id, "sg");
    CO_ASSERT_OK(sg.status());
    compute::CreateInstanceRequest ci{.type = "ecs.t6-c1m1.small",
                                      .image = from_snap,
                                      .vswitch = vsw->id,
                                      .security_groups = {sg->id},
                                      .start = false};
    auto inst = co_await compute_->CreateInstance(ci);
    CO_ASSERT_OK(inst.status());
    Params p17 = {{"ImageId", from_snap}, {"Force", "true"}};
    r = co_await Ecs("DeleteImage", p17);
    EXPECT_EQ(CodeOf(r), "ImageUsingByInstance");
    EXPECT_EQ((co_await Image(from_snap))["Usage"], "instance");
    CO_ASSERT_OK(co_await compute_->DeleteInstance(inst->id, true));
    Params p18 = {{"ImageId", from_snap}};
    r = co_await Ecs("DeleteImage", p18);
    CO_ASSERT_API_OK(r);
    EXPECT_TRUE((co_await Image(from_snap)).is_null());
    Params p19 = {{"SnapshotId", snapshot}};
    r = co_await Ecs("DeleteSnapshot", p19);
    CO_ASSERT_API_OK(r);
    Params p20 = {{"ImageId", mine}};
    r = co_await Ecs("DeleteImage", p20);
    CO_ASSERT_API_OK(r);
    Params p21 = {{"ImageId", mine}};
    r = co_await Ecs("DeleteImage", p21);
    EXPECT_EQ(CodeOf(r), "InvalidImageId.NotFound");
  }());
}

TEST_F(ImageActionsTest, KeyPairsPerAccount) {
  tg::testing::RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await Ready());
    Params p22 = {};
    auto r = co_await Ecs("CreateKeyPair", p22);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p23 = {{"KeyPairName", "1bad"}};
    r = co_await Ecs("CreateKeyPair", p23);
    EXPECT_EQ(CodeOf(r), "InvalidKeyPairName.Malformed");
    Params p24 = {{"KeyPairName", "made"}, {"Tag.1.Key", "team"}};
    r = co_await Ecs("CreateKeyPair", p24);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["KeyPairName"], "made");
    const std::string made_print = (*r)["KeyPairFingerPrint"];
    EXPECT_EQ(made_print.size(), 47u);  // 16 bytes, colon-separated hex
    const std::string pem = (*r)["PrivateKeyBody"];
    EXPECT_TRUE(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n")) << pem.substr(0, 40);
    // The store holds the public half, OpenSSH's form, under the scoped name.
    auto st = co_await compute_->Read();
    CO_ASSERT_OK(st.status());
    CO_ASSERT_TRUE(st->key_pairs.count(ScopedName(a_, "made")));
    const compute::KeyPair& stored = st->key_pairs.at(ScopedName(a_, "made")).value;
    EXPECT_TRUE(stored.public_key.starts_with("ssh-rsa AAAAB3NzaC1yc2E")) << stored.public_key;
    EXPECT_EQ(stored.fingerprint, made_print);
    Params p25 = {{"KeyPairName", "made"}};
    r = co_await Ecs("CreateKeyPair", p25);
    EXPECT_EQ(CodeOf(r), "InvalidKeyPair.Duplicate");
    Params p26 = {{"KeyPairName", "imported"}};

    r = co_await Ecs("ImportKeyPair", p26);
    EXPECT_EQ(CodeOf(r), "MissingParameter");
    Params p27 = {{"KeyPairName", "imported"}, {"PublicKeyBody", "ssh-rsa not-base64"}};
    r = co_await Ecs("ImportKeyPair", p27);
    EXPECT_EQ(CodeOf(r), "InvalidPublicKeyBody.Malformed");
    Params p28 = {{"KeyPairName", "imported"}, {"PublicKeyBody", std::string(kPublicKey)}};
    r = co_await Ecs("ImportKeyPair", p28);
    CO_ASSERT_API_OK(r);
    const std::string imported_print = (*r)["KeyPairFingerPrint"];
    EXPECT_EQ(imported_print.size(), 47u);
    Params p29 = {{"KeyPairName", "made"}, {"PublicKeyBody", std::string(kPublicKey)}};
    // B may use the same name: names are per account.
    r = co_await Ecs("ImportKeyPair", p29, &b_);
    CO_ASSERT_API_OK(r);
    Params p30 = {};

    r = co_await Ecs("DescribeKeyPairs", p30);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 2);
    Params p31 = {{"KeyPairName", "ma*"}};
    r = co_await Ecs("DescribeKeyPairs", p31);
    CO_ASSERT_API_OK(r);
    CO_ASSERT_EQ((*r)["KeyPairs"]["KeyPair"].size(), 1u);
    Json k = (*r)["KeyPairs"]["KeyPair"][0];
    EXPECT_EQ(k["KeyPairName"], "made");
    EXPECT_EQ(k["KeyPairFingerPrint"], made_print);
    EXPECT_EQ(std::string(k["CreationTime"]).size(), 17u);
    EXPECT_EQ(k["Tags"]["Tag"][0]["TagKey"], "team");
    Params p32 = {{"KeyPairFingerPrint", imported_print}};
    r = co_await Ecs("DescribeKeyPairs", p32);
    CO_ASSERT_API_OK(r);
    CO_ASSERT_EQ((*r)["KeyPairs"]["KeyPair"].size(), 1u);
    EXPECT_EQ((*r)["KeyPairs"]["KeyPair"][0]["KeyPairName"], "imported");
    Params p33 = {};
    r = co_await Ecs("DescribeKeyPairs", p33, &b_);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 1);
    Params p34 = {{"KeyPairNames", "[\"made\",\"nope\"]"}};

    r = co_await Ecs("DeleteKeyPairs", p34);
    EXPECT_EQ(CodeOf(r), "InvalidKeyPair.NotFound");
    Params p35 = {{"KeyPairNames", "made"}};
    r = co_await Ecs("DeleteKeyPairs", p35);
    EXPECT_EQ(CodeOf(r), "InvalidParameter");
    Params p36 = {{"KeyPairNames", "[\"imported\"]"}};
    r = co_await Ecs("DeleteKeyPairs", p36, &b_);
    EXPECT_EQ(CodeOf(r), "InvalidKeyPair.NotFound");
    Params p37 = {{"KeyPairNames", "[\"made\",\"imported\"]"}};
    r = co_await Ecs("DeleteKeyPairs", p37);
    CO_ASSERT_API_OK(r);
    Params p38 = {};
    r = co_await Ecs("DescribeKeyPairs", p38);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 0);
    Params p39 = {};
    r = co_await Ecs("DescribeKeyPairs", p39, &b_);
    CO_ASSERT_API_OK(r);
    EXPECT_EQ((*r)["TotalCount"], 1);
  }());
}

}  // namespace
}  // namespace tg::api::testing
