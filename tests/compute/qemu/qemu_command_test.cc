// The QEMU command line and hot-plug steps built from a QemuSpec (pure), and
// the refusals of specs QEMU's option syntax cannot carry.
#include "compute/qemu/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "compute/qemu/accelerator.h"

namespace tg::compute {
namespace {

using Json = nlohmann::json;

QemuSpec Spec() {
  QemuSpec s;
  s.name = "i-abc123";
  s.vcpus = 2;
  s.memory_mib = 512;
  s.run_dir = "/run/tg/i-abc123";
  s.serial = "i-abc123";
  s.disks = {{.id = "d-sys", .socket = "/run/tg/blk/d-sys.sock", .queues = 2, .bootindex = 1},
             {.id = "d-data", .socket = "/run/tg/blk/d-data.sock", .queues = 1}};
  s.nics = {{.id = "eni-1", .socket = "/run/tg/net/eni-1.sock", .mac = "02:00:00:aa:bb:cc"}};
  return s;
}

// The value after each occurrence of `flag`.
std::vector<std::string> ValuesOf(const std::vector<std::string>& argv, std::string_view flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) out.push_back(argv[i + 1]);
  return out;
}

bool Has(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

TEST(QemuCommand, TcgSpecBecomesTheDocumentedArgv) {
  auto argv = BuildQemuCommand(Spec());
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_EQ(argv->front(), "qemu-system-x86_64");
  EXPECT_EQ(ValuesOf(*argv, "-machine"),
            std::vector<std::string>{"pc,accel=tcg,memory-backend=ram0"});
  EXPECT_EQ(ValuesOf(*argv, "-smp"), std::vector<std::string>{"2"});
  EXPECT_EQ(ValuesOf(*argv, "-m"), std::vector<std::string>{"512M"});
  EXPECT_EQ(ValuesOf(*argv, "-object"),
            std::vector<std::string>{"memory-backend-memfd,id=ram0,size=512M,share=on"});
  EXPECT_TRUE(ValuesOf(*argv, "-cpu").empty()) << "TCG keeps QEMU's default CPU model";
  for (const char* flag : {"-nodefaults", "-daemonize", "-S"})
    EXPECT_NE(std::find(argv->begin(), argv->end(), flag), argv->end()) << flag;
  EXPECT_EQ(ValuesOf(*argv, "-vga"), std::vector<std::string>{"none"});
  EXPECT_EQ(ValuesOf(*argv, "-display"), std::vector<std::string>{"none"});
  EXPECT_EQ(ValuesOf(*argv, "-pidfile"), std::vector<std::string>{"/run/tg/i-abc123/qemu.pid"});
  EXPECT_EQ(ValuesOf(*argv, "-qmp"),
            std::vector<std::string>{"unix:/run/tg/i-abc123/qmp.sock,server=on,wait=off"});
  EXPECT_EQ(ValuesOf(*argv, "-serial"), std::vector<std::string>{"chardev:serial0"});
  EXPECT_EQ(ValuesOf(*argv, "-smbios"),
            std::vector<std::string>{
                "type=1,manufacturer=Alibaba Cloud,product=Alibaba Cloud ECS,serial=i-abc123"});

  auto chardevs = ValuesOf(*argv, "-chardev");
  EXPECT_TRUE(Has(chardevs,
                  "socket,id=serial0,path=/run/tg/i-abc123/serial.sock,server=on,wait=off,"
                  "logfile=/run/tg/i-abc123/console.log,logappend=on"));
  EXPECT_TRUE(Has(chardevs, "socket,id=chr-d-sys,path=/run/tg/blk/d-sys.sock,reconnect=1"));
  EXPECT_TRUE(Has(chardevs, "socket,id=chr-d-data,path=/run/tg/blk/d-data.sock,reconnect=1"));
  EXPECT_TRUE(Has(chardevs, "socket,id=chr-eni-1,path=/run/tg/net/eni-1.sock,reconnect=1"));
  EXPECT_EQ(ValuesOf(*argv, "-netdev"),
            std::vector<std::string>{"vhost-user,id=net-eni-1,chardev=chr-eni-1"});
  EXPECT_EQ(ValuesOf(*argv, "-device"),
            (std::vector<std::string>{
                "vhost-user-blk-pci,chardev=chr-d-sys,id=d-sys,num-queues=2,bootindex=1",
                "vhost-user-blk-pci,chardev=chr-d-data,id=d-data,num-queues=1",
                "virtio-net-pci,netdev=net-eni-1,id=eni-1,mac=02:00:00:aa:bb:cc,vectors=0"}));
  EXPECT_TRUE(ValuesOf(*argv, "-kernel").empty()) << "the firmware boots the disk";
}

TEST(QemuCommand, KvmUsesTheHostCpuAndKeepsMsix) {
  QemuSpec s = Spec();
  s.accelerator = Accelerator::kKvm;
  s.serial = "";  // defaults to the name
  auto argv = BuildQemuCommand(s);
  ASSERT_TRUE(argv.ok()) << argv.status();
  EXPECT_EQ(ValuesOf(*argv, "-machine"),
            std::vector<std::string>{"pc,accel=kvm,memory-backend=ram0"});
  EXPECT_EQ(ValuesOf(*argv, "-cpu"), std::vector<std::string>{"host"});
  EXPECT_TRUE(Has(ValuesOf(*argv, "-device"),
                  "virtio-net-pci,netdev=net-eni-1,id=eni-1,mac=02:00:00:aa:bb:cc"));
  EXPECT_TRUE(Has(ValuesOf(*argv, "-smbios"),
                  "type=1,manufacturer=Alibaba Cloud,product=Alibaba Cloud ECS,serial=i-abc123"));
}

TEST(QemuCommand, RefusesWhatQemuOptionsCannotCarry) {
  std::vector<std::pair<std::string, void (*)(QemuSpec&)>> cases = {
      {"no disk", [](QemuSpec& s) { s.disks.clear(); }},
      {"0 vCPUs", [](QemuSpec& s) { s.vcpus = 0; }},
      {"too many vCPUs", [](QemuSpec& s) { s.vcpus = 1000; }},
      {"odd memory", [](QemuSpec& s) { s.memory_mib = 511; }},
      {"no memory", [](QemuSpec& s) { s.memory_mib = 0; }},
      {"comma in run dir", [](QemuSpec& s) { s.run_dir = "/run/a,b"; }},
      {"empty run dir", [](QemuSpec& s) { s.run_dir = ""; }},
      {"comma in disk socket", [](QemuSpec& s) { s.disks[0].socket = "/run/x,server=on"; }},
      {"comma in NIC socket", [](QemuSpec& s) { s.nics[0].socket = "/run/x,y"; }},
      {"comma in disk id", [](QemuSpec& s) { s.disks[0].id = "d,1"; }},
      {"id not starting with a letter", [](QemuSpec& s) { s.disks[0].id = "1d"; }},
      {"empty NIC id", [](QemuSpec& s) { s.nics[0].id = ""; }},
      {"duplicate device id", [](QemuSpec& s) { s.nics[0].id = "d-sys"; }},
      {"zero queues", [](QemuSpec& s) { s.disks[0].queues = 0; }},
      {"two boot disks", [](QemuSpec& s) { s.disks[1].bootindex = 2; }},
      {"bad MAC", [](QemuSpec& s) { s.nics[0].mac = "02:00:00:aa:bb"; }},
      {"MAC with a comma", [](QemuSpec& s) { s.nics[0].mac = "02:00:00:aa:bb,c"; }},
      {"comma in SMBIOS", [](QemuSpec& s) { s.smbios_product = "ECS,evil=1"; }},
      {"comma in name", [](QemuSpec& s) { s.name = "i-1,debug-threads=on"; }},
      {"socket path too long", [](QemuSpec& s) { s.run_dir = "/" + std::string(120, 'r'); }},
  };
  for (const auto& [what, change] : cases) {
    QemuSpec s = Spec();
    change(s);
    auto argv = BuildQemuCommand(s);
    EXPECT_EQ(argv.status().code(), ErrorCode::kInvalidArgument) << what;
  }
}

TEST(QemuCommand, HotPlugStepsAreTheQmpCommandsInOrder) {
  QemuDisk disk{.id = "d-new", .socket = "/run/tg/blk/d-new.sock", .queues = 2};
  auto steps = PlugDiskSteps(disk);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].command, "chardev-add");
  EXPECT_EQ(Json::parse(steps[0].arguments_json), Json::parse(R"({"id": "chr-d-new",
      "backend": {"type": "socket", "data": {
        "addr": {"type": "unix", "data": {"path": "/run/tg/blk/d-new.sock"}},
        "server": false, "reconnect": 1}}})"));
  EXPECT_EQ(steps[1].command, "device_add");
  EXPECT_EQ(Json::parse(steps[1].arguments_json),
            Json::parse(R"({"driver": "vhost-user-blk-pci", "id": "d-new", "chardev": "chr-d-new",
                            "num-queues": 2})"));

  QemuNic nic{.id = "eni-2", .socket = "/run/tg/net/eni-2.sock", .mac = "02:00:00:00:00:02"};
  auto tcg = PlugNicSteps(nic, Accelerator::kTcg);
  ASSERT_EQ(tcg.size(), 3u);
  EXPECT_EQ(tcg[0].command, "chardev-add");
  EXPECT_EQ(Json::parse(tcg[0].arguments_json)["id"], "chr-eni-2");
  EXPECT_EQ(tcg[1].command, "netdev_add");
  EXPECT_EQ(Json::parse(tcg[1].arguments_json),
            Json::parse(R"({"type": "vhost-user", "id": "net-eni-2", "chardev": "chr-eni-2"})"));
  EXPECT_EQ(tcg[2].command, "device_add");
  EXPECT_EQ(Json::parse(tcg[2].arguments_json),
            Json::parse(R"({"driver": "virtio-net-pci", "id": "eni-2", "netdev": "net-eni-2",
                            "mac": "02:00:00:00:00:02", "vectors": 0})"));
  auto kvm = PlugNicSteps(nic, Accelerator::kKvm);
  ASSERT_EQ(kvm.size(), 3u);
  EXPECT_FALSE(Json::parse(kvm[2].arguments_json).contains("vectors"));
}

TEST(Accelerator, CpuFlagsNeedVmxOrSvm) {
  EXPECT_TRUE(CpuInfoHasVirtualization("processor\t: 0\nflags\t\t: fpu vme vmx sse\n"));
  EXPECT_TRUE(CpuInfoHasVirtualization("flags\t\t: fpu svm\nbugs\t\t: spectre\n"));
  EXPECT_FALSE(CpuInfoHasVirtualization("flags\t\t: fpu vme sse hypervisor\n"));
  EXPECT_FALSE(CpuInfoHasVirtualization("model name\t: vmx svm\nflags\t\t: fpu\n"));
  EXPECT_FALSE(CpuInfoHasVirtualization("flags\t\t: fpu vmxnotreally\n"));
  EXPECT_FALSE(CpuInfoHasVirtualization(""));
  EXPECT_EQ(AcceleratorName(Accelerator::kKvm), "kvm");
  EXPECT_EQ(AcceleratorName(Accelerator::kTcg), "tcg");
}

}  // namespace
}  // namespace tg::compute
