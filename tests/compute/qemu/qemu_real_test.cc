// Real QEMU (TCG) started from BuildQemuCommand, with its disk served by
// qemu-storage-daemon: the daemonized QEMU answers QMP, takes a hot-plugged
// disk, reports power-down and quit as events, and exits. Only the
// processes this test starts are stopped, by their pidfd.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/process.h"
#include "base/unique_fd.h"
#include "compute/qemu/accelerator.h"
#include "compute/qemu/qemu_command.h"
#include "compute/qemu/qmp_client.h"
#include "support/test_util.h"

namespace tg::compute {
namespace {

using testing::RunTask;
using testing::TempDir;
using Json = nlohmann::json;

// A boot sector that prints kBootBanner on COM1 and halts: proof that the
// firmware booted the vhost-user-blk disk (bootindex) and that the serial
// console reaches console.log.
constexpr std::string_view kBootBanner = "TG-BOOT-OK";
std::string BootSector() {
  std::string code = {
      '\xFA',                  // cli
      '\x31', '\xC0',          // xor ax, ax
      '\x8E', '\xD8',          // mov ds, ax
      '\xBA', '\xF8', '\x03',  // mov dx, 0x3f8
      '\xBE', '\x17', '\x7C',  // mov si, 0x7c17 (the text below)
      '\xFC',                  // cld
      '\xAC',                  // next: lodsb
      '\x84', '\xC0',          // test al, al
      '\x74', '\x03',          // jz done
      '\xEE',                  // out dx, al
      '\xEB', '\xF8',          // jmp next
      '\xF4',                  // done: hlt
      '\xEB', '\xFD',          // jmp done
  };
  code += std::string(kBootBanner) + "\r\n";
  code.push_back('\0');
  code.resize(510, '\0');
  return code + "\x55\xAA";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// True once something accepts connections on the Unix socket at `path`.
bool Accepts(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!fd.valid() || path.size() >= sizeof addr.sun_path) return false;
  path.copy(addr.sun_path, path.size());
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// Polls `ready` until it holds or `timeout` passes.
template <typename Ready>
bool WaitFor(Ready ready, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  while (!ready()) {
    if (Clock::now() >= deadline) return false;
    usleep(20 * 1000);
  }
  return true;
}

// The daemonized QEMU: not our child (its -daemonize parent was), so it is
// watched and, if still alive at the end, killed through a pidfd, which
// cannot hit another process that reused the pid.
class DaemonizedQemu {
 public:
  explicit DaemonizedQemu(pid_t pid) : pid_(pid), pidfd_(syscall(SYS_pidfd_open, pid, 0)) {}
  ~DaemonizedQemu() {
    if (pidfd_.valid() && alive())
      syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  }
  bool valid() const { return pidfd_.valid(); }
  bool alive() const { return ::kill(pid_, 0) == 0 && !Exited(0ms); }
  // True once the process has exited (its pidfd turns readable).
  bool Exited(Duration timeout) const {
    return WaitFor(
        [&] {
          pollfd p{.fd = pidfd_.get(), .events = POLLIN, .revents = 0};
          return ::poll(&p, 1, 0) == 1;
        },
        timeout);
  }

 private:
  pid_t pid_;
  UniqueFd pidfd_;
};

class QemuRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = dir_.path() + "/run";
    std::filesystem::create_directory(run_dir_);
    for (const char* name : {"sys", "hot"}) {
      const std::string raw = dir_.path() + "/" + name + ".raw";
      std::ofstream(raw) << (name == std::string_view("sys") ? BootSector() : "");
      std::filesystem::resize_file(raw, 16 << 20);
    }
    // One daemon, two exports (one per frontend device), one queue each.
    std::vector<std::string> argv = {"qemu-storage-daemon"};
    for (const char* name : {"sys", "hot"}) {
      const std::string n = name;
      argv.insert(argv.end(),
                  {"--blockdev",
                   fmt::format("driver=file,node-name=f-{},filename={}/{}.raw", n, dir_.path(), n),
                   "--export",
                   fmt::format("type=vhost-user-blk,id=e-{},node-name=f-{},addr.type=unix,"
                               "addr.path={},writable=on,num-queues=1",
                               n, n, BlkSocket(n))});
    }
    auto qsd = ChildProcess::Spawn({.argv = argv, .output_path = dir_.path() + "/qsd.log"});
    ASSERT_TRUE(qsd.ok()) << qsd.status();
    qsd_.emplace(std::move(*qsd));
    ASSERT_TRUE(
        WaitFor([&] { return Accepts(BlkSocket("sys")) && Accepts(BlkSocket("hot")); }, 30s))
        << "qemu-storage-daemon did not serve";
  }

  std::string BlkSocket(const std::string& name) const {
    return dir_.path() + "/" + name + ".sock";
  }

  QemuSpec Spec() const {
    QemuSpec s;
    s.name = "i-realtest";
    s.vcpus = 1;
    s.memory_mib = 256;
    s.run_dir = run_dir_;
    s.disks = {{.id = "d-sys", .socket = BlkSocket("sys"), .queues = 1, .bootindex = 1}};
    return s;
  }

  TempDir dir_;
  std::string run_dir_;
  std::optional<ChildProcess> qsd_;
  asio::io_context io_;
};

Task<void> DriveQemu(std::string qmp_socket, QemuDisk hot) {
  Executor ex = co_await asio::this_coro::executor;
  auto c = co_await QmpClient::Connect(ex, qmp_socket, 30s);
  CO_ASSERT_OK(c.status());
  QmpClient& qmp = **c;

  auto status = co_await qmp.Execute("query-status");
  CO_ASSERT_OK(status.status());
  EXPECT_EQ((*status)["status"], std::string("running")) << status->dump();

  // Hot-plug a second disk with the steps the agent would run.
  for (const QmpStep& step : PlugDiskSteps(hot)) {
    Json arguments = Json::parse(step.arguments_json);
    auto r = co_await qmp.Execute(step.command, arguments);
    CO_ASSERT_OK(r.status());
  }
  auto pci = co_await qmp.Execute("query-pci");
  CO_ASSERT_OK(pci.status());
  std::vector<std::string> devices;
  for (const Json& bus : *pci)
    for (const Json& d : bus["devices"]) devices.push_back(d.value("qdev_id", std::string()));
  EXPECT_NE(std::find(devices.begin(), devices.end(), "d-sys"), devices.end()) << pci->dump();
  EXPECT_NE(std::find(devices.begin(), devices.end(), hot.id), devices.end()) << pci->dump();

  // An unknown command is QEMU's error, and the connection stays.
  auto bad = co_await qmp.Execute("no-such-command");
  EXPECT_EQ(bad.status().code(), ErrorCode::kFailedPrecondition) << bad.status();

  CO_ASSERT_OK((co_await qmp.Execute("system_powerdown")).status());
  auto powerdown =
      co_await qmp.WaitForEvent([](const QmpEvent& e) { return e.name == "POWERDOWN"; }, 20s);
  EXPECT_TRUE(powerdown);

  // QEMU may close the socket before its reply to quit is read.
  auto quit = co_await qmp.Execute("quit");
  EXPECT_TRUE(quit.ok() || quit.status().code() == ErrorCode::kUnavailable) << quit.status();
  auto shutdown =
      co_await qmp.WaitForEvent([](const QmpEvent& e) { return e.name == "SHUTDOWN"; }, 20s);
  CO_ASSERT_TRUE(shutdown);
  EXPECT_EQ(shutdown->data.value("reason", std::string()), std::string("host-qmp-quit"));
  co_await qmp.closed().Wait();
  EXPECT_FALSE(qmp.connected());
}

TEST_F(QemuRealTest, BootsAnswersQmpHotPlugsAndQuits) {
  QemuSpec spec = Spec();
  auto argv = BuildQemuCommand(spec);
  ASSERT_TRUE(argv.ok()) << argv.status();
  const std::string log = dir_.path() + "/qemu.log";
  auto parent = ChildProcess::Spawn({.argv = *argv, .output_path = log});
  ASSERT_TRUE(parent.ok()) << parent.status();
  // -daemonize: the parent exits once QEMU is set up and the pid file written.
  auto exit_status = parent->Wait(60s);
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  ASSERT_EQ(*exit_status, 0) << DescribeWaitStatus(*exit_status);

  std::ifstream pid_file(PidFilePath(spec.run_dir));
  pid_t pid = 0;
  ASSERT_TRUE(pid_file >> pid) << "no pid in " << PidFilePath(spec.run_dir);
  DaemonizedQemu qemu(pid);
  ASSERT_TRUE(qemu.valid());
  EXPECT_TRUE(qemu.alive());
  EXPECT_TRUE(std::filesystem::exists(ConsoleLogPath(spec.run_dir)));
  EXPECT_TRUE(Accepts(SerialSocketPath(spec.run_dir)));
  // It starts paused (-S): the agent lets it run.
  RunTask(io_, [&]() -> Task<void> {
    auto qmp = co_await QmpClient::Connect(io_.get_executor(), QmpSocketPath(spec.run_dir), 20s);
    CO_ASSERT_TRUE(qmp.ok());
    auto status = co_await (*qmp)->Execute("query-status");
    CO_ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->value("status", std::string()), "prelaunch");
    EXPECT_TRUE((co_await (*qmp)->Execute("cont")).ok());
    (*qmp)->Close();
  }());
  // SeaBIOS under TCG takes a few seconds to reach the boot sector.
  EXPECT_TRUE(WaitFor(
      [&] { return ReadAll(ConsoleLogPath(spec.run_dir)).find(kBootBanner) != std::string::npos; },
      90s))
      << "the boot sector never ran; console: " << ReadAll(ConsoleLogPath(spec.run_dir));

  QemuDisk hot{.id = "d-hot", .socket = BlkSocket("hot"), .queues = 1};
  RunTask(io_, DriveQemu(QmpSocketPath(spec.run_dir), hot));
  EXPECT_TRUE(qemu.Exited(20s)) << "QEMU still runs after quit";
}

TEST_F(QemuRealTest, DetectAcceleratorSaysTcgOnAHostWithoutStandardKvm) {
  // On this kind of host /dev/kvm is kvm-pvm and the CPU shows neither vmx
  // nor svm: a stock guest does not run under it.
  if (CpuInfoHasVirtualization(ReadAll("/proc/cpuinfo")))
    GTEST_SKIP() << "this host has vmx or svm";
  auto detect = [](asio::io_context& io) -> Task<Accelerator> {
    co_return co_await DetectAccelerator(io.get_executor());
  };
  EXPECT_EQ(RunTask(io_, detect(io_)), Accelerator::kTcg);
}

TEST_F(QemuRealTest, TheTrialAnswersUnderTcgAndSaysWhyWhenKvmRefuses) {
  auto trial = [](asio::io_context& io, Accelerator a) -> Task<Status> {
    co_return co_await TrialQemu(io.get_executor(), "qemu-system-x86_64", a);
  };
  EXPECT_OK(RunTask(io_, trial(io_, Accelerator::kTcg)));
  if (CpuInfoHasVirtualization(ReadAll("/proc/cpuinfo")))
    GTEST_SKIP() << "this host has vmx or svm";
  // Under kvm-pvm, QEMU with -cpu host aborts on some machines of this kind
  // and starts (stopped by -S) on others; detection does not rely on it (the
  // CPU flags decide first). Where it refuses, the trial says why.
  Status kvm = RunTask(io_, trial(io_, Accelerator::kKvm));
  if (!kvm.ok()) {
    EXPECT_NE(kvm.message().find("exited"), std::string::npos) << kvm;
  }
  // A binary that is not QEMU at all is refused, with its reason.
  Status bogus = RunTask(io_, [](asio::io_context& io) -> Task<Status> {
    co_return co_await TrialQemu(io.get_executor(), "false", Accelerator::kTcg);
  }(io_));
  EXPECT_FALSE(bogus.ok());
  EXPECT_NE(bogus.message().find("exited"), std::string::npos) << bogus;
}

}  // namespace
}  // namespace tg::compute
