#include "compute/agent/qemu_process.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/log.h"
#include "base/process.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("qemu");
  return log;
}

using namespace std::chrono_literals;

std::string QemuLogPath(const std::string& run_dir) {
  return run_dir + "/qemu.log";
}

// The last `bytes` of a file, for error messages.
std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > bytes) text = text.substr(text.size() - bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

bool Alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

// Whether `pid` is a QEMU started for instance `name` (its -name argument),
// so that a pid file outliving its process never makes us adopt, or kill,
// whatever process reused the number.
bool IsInstanceQemu(pid_t pid, const std::string& name) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < cmdline.size(); ++i) {
    if (cmdline[i] == '\0') {
      args.push_back(cmdline.substr(start, i - start));
      start = i + 1;
    }
  }
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-name" && (args[i + 1] == name || args[i + 1].starts_with(name + ",")))
      return true;
  }
  return false;
}

Result<pid_t> ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  long long pid = 0;
  if (!(in >> pid) || pid <= 1 || pid > (1 << 22)) return NotFound("no valid pid in {}", path);
  return static_cast<pid_t>(pid);
}

// Run-state changes, appended to the instance's event log with QEMU's own
// timestamps: when each copy of an instance ran, and when it stopped.
void LogRunStateEvent(const std::string& run_dir, const QmpEvent& e) {
  static const std::set<std::string> kLogged = {"STOP", "RESUME", "SHUTDOWN", "RESET", "MIGRATION"};
  if (!kLogged.contains(e.name)) return;
  std::ofstream out(QmpEventLogPath(run_dir), std::ios::app);
  out << fmt::format("{}.{:06d} {} {}\n", e.seconds, e.microseconds, e.name, e.data.dump());
}

}  // namespace

QemuProcess::QemuProcess(Executor ex, std::string name, pid_t pid, std::string run_dir,
                         std::unique_ptr<QmpClient> qmp)
    : ex_(ex),
      name_(std::move(name)),
      pid_(pid),
      run_dir_(std::move(run_dir)),
      qmp_(std::move(qmp)),
      exited_(ex),
      events_(ex),
      watch_(ex) {
  watch_.Spawn("qmp watch", Watch());
}

QemuProcess::~QemuProcess() = default;

Task<void> QemuProcess::Release() {
  released_ = true;
  qmp_->Close();
  co_await watch_.Close();
}

Task<Result<std::unique_ptr<QemuProcess>>> QemuProcess::Launch(Executor ex, const QemuSpec& spec,
                                                               Duration timeout) {
  TG_CO_ASSIGN_OR_RETURN(std::vector<std::string> argv, BuildQemuCommand(spec));
  std::error_code ec;
  std::filesystem::create_directories(spec.run_dir, ec);
  if (ec) co_return Internal("run directory {}: {}", spec.run_dir, ec.message());
  for (const auto& stale : {PidFilePath(spec.run_dir), QmpSocketPath(spec.run_dir)})
    std::filesystem::remove(stale, ec);
  const std::string log = QemuLogPath(spec.run_dir);
  std::filesystem::remove(log, ec);
  // With -daemonize the process we start exits once QEMU is set up (0), or
  // with the reason it could not start; the daemon it leaves is in a session
  // of its own and not our child: it outlives us.
  TG_CO_ASSIGN_OR_RETURN(ChildProcess launcher,
                         ChildProcess::Spawn({.argv = argv, .output_path = log}));
  auto waited = co_await (launcher.AsyncWaitExit(ex) || SleepFor(timeout));
  if (waited.index() == 1) {
    co_return DeadlineExceeded("QEMU did not start within {} s: {}",
                               std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                               Tail(log, 400));
  }
  auto status = launcher.Wait(0s);
  if (!status.ok()) co_return status.status();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    co_return FailedPrecondition("QEMU could not start ({}): {}", DescribeWaitStatus(*status),
                                 Tail(log, 400));
  }
  TG_CO_ASSIGN_OR_RETURN(pid_t pid, ReadPidFile(PidFilePath(spec.run_dir)));
  auto qmp = co_await QmpClient::Connect(ex, QmpSocketPath(spec.run_dir), timeout);
  if (!qmp.ok()) {
    ::kill(pid, SIGKILL);
    co_return qmp.status().Annotate("QMP of the new QEMU");
  }
  Log()->info("QEMU started instance={} pid={}", spec.name, pid);
  co_return std::unique_ptr<QemuProcess>(
      new QemuProcess(ex, spec.name, pid, spec.run_dir, std::move(*qmp)));
}

Task<Result<std::unique_ptr<QemuProcess>>> QemuProcess::Adopt(Executor ex, std::string name,
                                                              std::string run_dir,
                                                              Duration timeout) {
  auto pid = ReadPidFile(PidFilePath(run_dir));
  if (!pid.ok()) co_return pid.status();
  if (!Alive(*pid) || !IsInstanceQemu(*pid, name))
    co_return NotFound("no QEMU of {} runs (pid {} is not it)", name, *pid);
  auto qmp = co_await QmpClient::Connect(ex, QmpSocketPath(run_dir), timeout);
  if (!qmp.ok()) co_return qmp.status().Annotate(fmt::format("QMP of QEMU pid {}", *pid));
  Log()->info("QEMU adopted instance={} pid={}", name, *pid);
  co_return std::unique_ptr<QemuProcess>(
      new QemuProcess(ex, name, *pid, std::move(run_dir), std::move(*qmp)));
}

Task<void> QemuProcess::Watch() {
  for (;;) {
    std::optional<QmpEvent> e = co_await qmp_->NextEvent();
    if (!e || released_) break;
    LogRunStateEvent(run_dir_, *e);
    if (e->name == "RESUME") {
      resumed_ = true;
      events_.Notify();
    } else if (e->name == "MIGRATION" || e->name == "STOP") {
      events_.Notify();
    } else if (e->name == "SHUTDOWN") {
      shutdown_reason_ = e->data.value("reason", std::string("unknown"));
    } else if (e->name == "DEVICE_DELETED") {
      if (e->data.contains("device") && e->data["device"].is_string()) {
        deleted_.insert(e->data["device"].get<std::string>());
        events_.Notify();
      }
    }
  }
  if (released_) co_return;  // QEMU runs on without us
  co_await WaitGone(10s);
  if (Alive(pid_) && IsInstanceQemu(pid_, name_)) {
    // The connection ended but QEMU lives on (someone else took its monitor,
    // or it hangs): without QMP it cannot be driven, so it is stopped.
    ::kill(pid_, SIGKILL);
    co_await WaitGone(5s);
  }
  if (stopping_) {
    exit_reason_ = "stopped";
  } else if (shutdown_reason_ == "guest-shutdown") {
    exit_reason_ = "the guest powered off";
  } else if (!shutdown_reason_.empty()) {
    exit_reason_ = "QEMU shut down: " + shutdown_reason_;
  } else {
    exit_reason_ = "QEMU exited unexpectedly (no shutdown event)";
  }
  Log()->info("QEMU gone pid={} reason={}", pid_, exit_reason_);
  exited_.Set();
  events_.Notify();
}

Task<void> QemuProcess::WaitGone(Duration timeout) {
  // QEMU is not our child (it daemonized): its end is seen by polling.
  const TimePoint deadline = Clock::now() + timeout;
  while (Alive(pid_) && Clock::now() < deadline) {
    if (!co_await SleepFor(20ms)) co_return;
  }
}

Task<Status> QemuProcess::PowerDown(Duration grace) {
  if (!running()) co_return Status::Ok();
  auto r = co_await qmp_->Execute("system_powerdown");
  if (r.ok()) {
    auto ended = co_await (exited_.Wait() || SleepFor(grace));
    if (ended.index() == 0 || !running()) {
      stopping_ = true;
      co_return Status::Ok();
    }
    Log()->info("guest pid={} ignored the power button for {} s: quitting", pid_,
                std::chrono::duration_cast<std::chrono::seconds>(grace).count());
  }
  co_return co_await Quit();
}

Task<Status> QemuProcess::Quit() {
  if (!running()) co_return Status::Ok();
  stopping_ = true;
  if (frozen_) {
    // It cannot answer; and what it holds is not to be kept.
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    auto gone = co_await (exited_.Wait() || SleepFor(10s));
    if (gone.index() == 1 && running()) co_return Internal("QEMU pid {} does not go", pid_);
    co_return Status::Ok();
  }
  (void)co_await qmp_->Execute("quit", nullptr, 5s);  // the reply may not outrun the exit
  auto ended = co_await (exited_.Wait() || SleepFor(10s));
  if (ended.index() == 1 && running()) {
    ::kill(pid_, SIGKILL);
    qmp_->Close();
    auto again = co_await (exited_.Wait() || SleepFor(10s));
    if (again.index() == 1 && running()) co_return Internal("QEMU pid {} does not go", pid_);
  }
  co_return Status::Ok();
}

Task<Status> QemuProcess::Reset() {
  auto r = co_await qmp_->Execute("system_reset");
  co_return r.status();
}

Task<Status> QemuProcess::Resume() {
  auto r = co_await qmp_->Execute("cont");
  co_return r.status().Annotate("QMP cont");
}

namespace {
void NoteInRunStateLog(const std::string& run_dir, std::string_view what) {
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::ofstream out(QmpEventLogPath(run_dir), std::ios::app);
  out << fmt::format("{}.{:06d} {} {{}}\n", now / 1000000, now % 1000000, what);
}
}  // namespace

Status QemuProcess::Freeze() {
  if (!running() || frozen_) return Status::Ok();
  if (::kill(pid_, SIGSTOP) != 0) return Internal("SIGSTOP to QEMU pid {}: {}", pid_, errno);
  frozen_ = true;
  NoteInRunStateLog(run_dir_, "FROZEN");
  return Status::Ok();
}

Status QemuProcess::Thaw() {
  if (!frozen_) return Status::Ok();
  if (::kill(pid_, SIGCONT) != 0) return Internal("SIGCONT to QEMU pid {}: {}", pid_, errno);
  frozen_ = false;
  NoteInRunStateLog(run_dir_, "THAWED");
  return Status::Ok();
}

Task<Result<std::string>> QemuProcess::RunState() {
  TG_CO_ASSIGN_OR_RETURN(nlohmann::json r, co_await qmp_->Execute("query-status"));
  if (!r.is_object() || !r.contains("status") || !r["status"].is_string())
    co_return InvalidArgument("query-status answered {}", r.dump());
  co_return r["status"].get<std::string>();
}

namespace {

nlohmann::json Capabilities(std::initializer_list<std::pair<const char*, bool>> caps) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [name, on] : caps) list.push_back({{"capability", name}, {"state", on}});
  return {{"capabilities", list}};
}

uint64_t U64(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

}  // namespace

Task<Status> QemuProcess::Incoming(const std::string& uri) {
  nlohmann::json events = Capabilities({{"events", true}});
  auto caps = co_await qmp_->Execute("migrate-set-capabilities", std::move(events));
  TG_CO_RETURN_IF_ERROR(caps.status().Annotate("migrate-set-capabilities"));
  nlohmann::json args = {{"uri", uri}};
  auto r = co_await qmp_->Execute("migrate-incoming", std::move(args));
  co_return r.status().Annotate("migrate-incoming");
}

Task<Status> QemuProcess::Migrate(const std::string& uri, const MigrationLimits& limits) {
  nlohmann::json wanted = Capabilities({{"events", true}, {"auto-converge", limits.auto_converge}});
  auto caps = co_await qmp_->Execute("migrate-set-capabilities", std::move(wanted));
  TG_CO_RETURN_IF_ERROR(caps.status().Annotate("migrate-set-capabilities"));
  // "Unlimited" is a rate no link here reaches (QEMU has no word for it).
  const uint64_t bandwidth =
      limits.bandwidth_mib == 0 ? uint64_t{1} << 40 : limits.bandwidth_mib << 20;
  nlohmann::json params = {{"downtime-limit", limits.downtime_ms}, {"max-bandwidth", bandwidth}};
  auto set = co_await qmp_->Execute("migrate-set-parameters", std::move(params));
  TG_CO_RETURN_IF_ERROR(set.status().Annotate("migrate-set-parameters"));
  nlohmann::json args = {{"uri", uri}};
  auto r = co_await qmp_->Execute("migrate", std::move(args));
  co_return r.status().Annotate("migrate");
}

Task<Result<MigrationInfo>> QemuProcess::QueryMigration() {
  TG_CO_ASSIGN_OR_RETURN(nlohmann::json r, co_await qmp_->Execute("query-migrate"));
  if (!r.is_object()) co_return InvalidArgument("query-migrate answered {}", r.dump());
  MigrationInfo info;
  info.status = r.value("status", std::string("none"));
  info.total_ms = U64(r, "total-time");
  info.downtime_ms = U64(r, "downtime");
  if (r.contains("ram") && r["ram"].is_object()) {
    info.transferred_bytes = U64(r["ram"], "transferred");
    info.remaining_bytes = U64(r["ram"], "remaining");
    info.dirty_syncs = U64(r["ram"], "dirty-sync-count");
  }
  info.error = r.value("error-desc", std::string());
  co_return info;
}

Task<Status> QemuProcess::CancelMigration() {
  auto r = co_await qmp_->Execute("migrate_cancel");
  co_return r.status().Annotate("migrate_cancel");
}

Task<Result<std::map<std::string, uint32_t>>> QemuProcess::PciSlots() {
  TG_CO_ASSIGN_OR_RETURN(nlohmann::json r, co_await qmp_->Execute("query-pci"));
  std::map<std::string, uint32_t> slots;
  if (!r.is_array() || r.empty() || !r[0].contains("devices") || !r[0]["devices"].is_array())
    co_return InvalidArgument("query-pci answered no root bus");
  for (const auto& d : r[0]["devices"]) {
    const std::string id = d.value("qdev_id", std::string());
    if (id.empty() || !d.contains("slot") || !d["slot"].is_number_unsigned()) continue;
    slots[id] = d["slot"].get<uint32_t>();
  }
  co_return slots;
}

Task<Result<std::set<std::string>>> QemuProcess::Devices() {
  nlohmann::json args = nlohmann::json::object();
  args["path"] = "/machine/peripheral";
  TG_CO_ASSIGN_OR_RETURN(nlohmann::json list, co_await qmp_->Execute("qom-list", std::move(args)));
  std::set<std::string> ids;
  if (!list.is_array()) co_return InvalidArgument("qom-list answered no list");
  for (const auto& e : list) {
    if (e.is_object() && e.value("type", std::string()).starts_with("child<"))
      ids.insert(e.value("name", std::string()));
  }
  co_return ids;
}

Task<Status> QemuProcess::RunSteps(const std::vector<QmpStep>& steps) {
  for (const auto& step : steps) {
    auto r = co_await qmp_->Execute(step.command, nlohmann::json::parse(step.arguments_json));
    if (!r.ok()) co_return r.status().Annotate(step.command);
  }
  co_return Status::Ok();
}

Task<Status> QemuProcess::PlugDisk(const QemuDisk& disk) {
  co_return co_await RunSteps(PlugDiskSteps(disk));
}

Task<Status> QemuProcess::PlugNic(const QemuNic& nic, Accelerator accelerator) {
  co_return co_await RunSteps(PlugNicSteps(nic, accelerator));
}

Task<Status> QemuProcess::Unplug(const std::string& id, Duration timeout,
                                 const std::string& then_command, const std::string& then_id) {
  deleted_.erase(id);
  nlohmann::json args = nlohmann::json::object();
  args["id"] = id;
  auto r = co_await qmp_->Execute("device_del", args);
  if (!r.ok()) co_return r.status().Annotate("device_del " + id);
  // The guest lets go of the device first (ACPI eject); only then is it gone.
  const TimePoint deadline = Clock::now() + timeout;
  while (!deleted_.contains(id)) {
    if (!running()) co_return Unavailable("QEMU went while unplugging {}", id);
    if (Clock::now() >= deadline) co_return DeadlineExceeded("the guest did not release {}", id);
    co_await (events_.Wait() || SleepFor(deadline - Clock::now()));
  }
  args["id"] = then_id;
  auto removed = co_await qmp_->Execute(then_command, std::move(args));
  co_return removed.status();
}

Task<Status> QemuProcess::UnplugDisk(const std::string& id, Duration timeout) {
  co_return co_await Unplug(id, timeout, "chardev-remove", "chr-" + id);
}

Task<Status> QemuProcess::UnplugNic(const std::string& id, Duration timeout) {
  // netdev_del also removes the netdev's chardev.
  co_return co_await Unplug(id, timeout, "netdev_del", "net-" + id);
}

}  // namespace tg::compute
