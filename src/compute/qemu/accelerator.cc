#include "compute/qemu/accelerator.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "compute/qemu/qmp_client.h"

namespace tg::compute {
namespace {

constexpr Duration kTrialBudget = 20s;

std::shared_ptr<spdlog::logger> Log() {
  static auto log = log::Get("compute");
  return log;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The last line QEMU printed: why it refused to start.
std::string LastLine(const std::string& text) {
  std::string_view t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  size_t nl = t.rfind('\n');
  return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
}

std::vector<std::string> TrialArgv(const std::string& binary, Accelerator accelerator,
                                   const std::string& qmp) {
  std::vector<std::string> argv = {binary, "-accel", std::string(AcceleratorName(accelerator))};
  if (accelerator == Accelerator::kKvm) argv.insert(argv.end(), {"-cpu", "host"});
  argv.insert(argv.end(), {"-machine", "pc", "-nodefaults", "-display", "none", "-S", "-qmp",
                           "unix:" + qmp + ",server=on,wait=off"});
  return argv;
}

// A directory for the trial's QMP socket and log, removed when done.
struct TrialDir {
  std::string path;
  TrialDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tg-kvm-trial-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path = tmpl;
  }
  ~TrialDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

std::string_view AcceleratorName(Accelerator a) {
  return a == Accelerator::kKvm ? "kvm" : "tcg";
}

Task<Status> TrialQemu(Executor ex, std::string binary, Accelerator accelerator) {
  TrialDir dir;
  if (dir.path.empty()) co_return ErrnoStatus(errno, "mkdtemp for the accelerator trial");
  const std::string qmp = dir.path + "/qmp.sock", out = dir.path + "/qemu.log";
  TG_CO_ASSIGN_OR_RETURN(
      ChildProcess trial,
      ChildProcess::Spawn({.argv = TrialArgv(binary, accelerator, qmp), .output_path = out}));
  const TimePoint deadline = Clock::now() + kTrialBudget;
  std::unique_ptr<QmpClient> client;
  Status last = Unavailable("no QMP socket yet");
  // The socket appears once QEMU has parsed its options; until then
  // connecting fails, and QEMU may yet exit (it refused the accelerator).
  while (!client && Clock::now() < deadline) {
    if (!trial.running())
      co_return Unavailable("trial QEMU ({}) exited: {}", AcceleratorName(accelerator),
                            LastLine(ReadFile(out)));
    auto c = co_await QmpClient::Connect(ex, qmp, std::chrono::seconds(5));
    if (c.ok()) {
      client = std::move(*c);
    } else {
      last = c.status();
      if (!co_await SleepFor(50ms)) co_return Cancelled("accelerator trial cancelled");
    }
  }
  if (!client) co_return last.Annotate("trial QEMU never answered QMP");
  auto status = co_await client->Execute("query-status");
  if (!status.ok()) co_return status.status().Annotate("trial QEMU");
  // -S stops the guest before its first instruction; a QEMU that answers
  // has set up its vCPUs with the accelerator.
  auto quit = co_await client->Execute("quit");
  if (!quit.ok()) Log()->debug("trial QEMU quit: {}", quit.status());
  client.reset();
  auto exited = co_await WithTimeout(5s, "trial QEMU exit", trial.AsyncWaitExit(ex));
  if (!exited.ok()) Log()->debug("trial QEMU did not quit in time; killed: {}", exited);
  co_return Status::Ok();  // ~ChildProcess kills one still running
}

bool CpuInfoHasVirtualization(std::string_view cpuinfo) {
  size_t pos = 0;
  while (pos < cpuinfo.size()) {
    size_t end = cpuinfo.find('\n', pos);
    std::string_view line = cpuinfo.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? cpuinfo.size() : end + 1;
    if (!line.starts_with("flags")) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::istringstream words{std::string(line.substr(colon + 1))};
    for (std::string w; words >> w;)
      if (w == "vmx" || w == "svm") return true;
  }
  return false;
}

Task<Accelerator> DetectAccelerator(Executor ex, std::string qemu_binary) {
  auto tcg = [](std::string_view why) {
    Log()->info("accelerator tcg: {}", why);
    return Accelerator::kTcg;
  };
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) co_return tcg(ErrnoStatus(errno, "open /dev/kvm").message());
  kvm.Reset();
  if (!CpuInfoHasVirtualization(ReadFile("/proc/cpuinfo")))
    co_return tcg(
        "the CPU flags have neither vmx nor svm (a /dev/kvm without them runs only "
        "special guests)");
  if (Status st = co_await TrialQemu(ex, qemu_binary, Accelerator::kKvm); !st.ok())
    co_return tcg(st.ToString());
  Log()->info("accelerator kvm: a trial QEMU ran with -accel kvm -cpu host");
  co_return Accelerator::kKvm;
}

}  // namespace tg::compute
