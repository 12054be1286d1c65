#include "compute/e2e/compute_cluster.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

#include "cli/cli_test_util.h"
#include "compute/qemu/qemu_command.h"
#include "network/controller/vpc_store.h"

namespace tg::testing {

namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

ComputeCluster::ComputeCluster(asio::io_context& io, int hosts, int servers)
    : io_(io), net_(hosts), nodes_(hosts + 1) {
  if (!net_.ok()) return;
  // etcd and the chunkservers also answer on the bridge: the hosts'
  // namespaces reach them there.
  storage_ = std::make_unique<StorageCluster>(io, servers, 3, std::vector<std::string>{},
                                              net_.local_ip(), net_.local_ip());
}

ComputeCluster::~ComputeCluster() {
  for (auto& n : nodes_) {
    if (n) (void)n->Stop(std::chrono::seconds(20));
  }
  // The guests outlive their agents by design: end the ones the test made.
  for (size_t i = 1; i < nodes_.size(); ++i) KillQemus(static_cast<int>(i));
  storage_.reset();
}

int ComputeCluster::KillQemus(int i) {
  // Each pid is checked to be that instance's QEMU by its command line.
  int killed = 0;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(InstanceDir(i), ec)) {
    const std::string pidfile = compute::PidFilePath(d.path().string());
    const std::string pid = ReadFile(pidfile);
    if (pid.empty()) continue;
    const std::string cmdline = ReadFile(fmt::format("/proc/{}/cmdline", std::stoi(pid)));
    if (cmdline.find(d.path().filename().string()) != std::string::npos &&
        ::kill(std::stoi(pid), SIGKILL) == 0)
      ++killed;
  }
  return killed;
}

std::string ComputeCluster::etcd_url() const {
  const std::string url = storage_->etcd_url();
  return fmt::format("http://{}:{}", net_.local_ip(), url.substr(url.rfind(':') + 1));
}

std::string ComputeCluster::ImportedImageFile(const std::string& name) const {
  return fmt::format("{}/image-{}.qcow2", dir_.path(), name);
}

std::string ComputeCluster::NodeLog(int i) const {
  return fmt::format("{}/node{}.log", dir_.path(), i);
}

std::string ComputeCluster::InstanceDir(int host) const {
  return fmt::format("{}/inst{}", dir_.path(), host);
}

std::string ComputeCluster::RunDir(int host, const std::string& id) const {
  return InstanceDir(host) + "/" + id;
}

Status ComputeCluster::StartNode(int i, std::vector<std::string> more) {
  std::vector<std::string> argv = {"ip",
                                   "netns",
                                   "exec",
                                   net_.host_ns(i),
                                   TiangongBinary(),
                                   "node",
                                   "--name",
                                   fmt::format("h{}", i),
                                   "--vswitch",
                                   "--compute",
                                   "--tunnel-ip",
                                   net_.host_ip(i),
                                   "--vswitch-state",
                                   fmt::format("{}/vswitch{}.json", dir_.path(), i),
                                   "--vhost-net-dir",
                                   fmt::format("{}/vhost{}", dir_.path(), i),
                                   "--instance-dir",
                                   InstanceDir(i),
                                   "--compute-vcpus",
                                   "4",
                                   "--compute-memory-mib",
                                   "4096",
                                   "--stop-timeout",
                                   "20",
                                   "--etcd",
                                   etcd_url()};
  argv.insert(argv.end(), more.begin(), more.end());
  auto p = ChildProcess::Spawn({.argv = argv, .output_path = NodeLog(i)});
  if (!p.ok()) return p.status();
  nodes_[i] = std::move(*p);
  return Status::Ok();
}

void ComputeCluster::KillNode(int i) {
  if (!nodes_[i]) return;
  (void)nodes_[i]->Signal(SIGKILL);
  (void)nodes_[i]->Wait(std::chrono::seconds(10));
  nodes_[i].reset();
}

Task<Result<std::string>> ComputeCluster::Cli(std::vector<std::string> args) {
  static int counter = 0;
  const int n = counter++;
  const std::string out = fmt::format("{}/cli{}.out", dir_.path(), n);
  const std::string err = fmt::format("{}/cli{}.err", dir_.path(), n);
  std::string command = "exec " + Quote(TiangongBinary());
  for (const auto& a : args) command += " " + Quote(a);
  command += " --etcd " + Quote(storage_->etcd_url()) + " 2>" + Quote(err);
  auto child = ChildProcess::Spawn({.argv = {"sh", "-c", command}, .output_path = out});
  if (!child.ok()) co_return child.status();
  TG_CO_RETURN_IF_ERROR(co_await child->AsyncWaitExit(io_.get_executor()));
  auto st = child->Wait(std::chrono::seconds(1));
  if (!st.ok()) co_return st.status();
  std::string printed = ReadFile(out);
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
    std::string line;
    for (const auto& a : args) line += a + " ";
    co_return Internal("tiangong {}{}: {}{}", line, DescribeWaitStatus(*st), printed,
                       ReadFile(err));
  }
  co_return printed;
}

Task<Result<std::string>> ComputeCluster::CliId(std::vector<std::string> args) {
  TG_CO_ASSIGN_OR_RETURN(std::string out, co_await Cli(std::move(args)));
  std::string id = out.substr(0, out.find_first_of(" \t\n"));
  if (id.empty()) co_return Internal("no id printed: {}", out);
  co_return id;
}

Task<Result<compute::ComputeState>> ComputeCluster::ReadCompute() {
  auto r = co_await storage_->client().Get(std::string(compute::kComputePrefix), {.prefix = true});
  if (!r.ok()) co_return r.status();
  co_return compute::ParseComputeState(r->kvs, r->revision);
}

Task<Result<network::NetworkState>> ComputeCluster::ReadNetwork() {
  network::VpcStore store(storage_->client());
  co_return co_await store.Read();
}

Task<Result<compute::Instance>> ComputeCluster::WaitForStatus(const std::string& id,
                                                              compute::InstanceStatus status,
                                                              Duration timeout,
                                                              std::string reason) {
  const TimePoint deadline = Clock::now() + timeout;
  std::string last = "no record";
  for (;;) {
    auto st = co_await ReadCompute();
    if (st.ok()) {
      auto it = st->instances.find(id);
      if (it != st->instances.end()) {
        const compute::Instance& i = it->second.value;
        last = fmt::format("{} ({}) on '{}'", compute::InstanceStatusName(i.status),
                           i.status_reason, i.host);
        if (i.status == status && i.status_reason.find(reason) != std::string::npos) co_return i;
      }
    }
    if (Clock::now() >= deadline) {
      co_return DeadlineExceeded("{} is not {} after the wait: {}", id,
                                 compute::InstanceStatusName(status), last);
    }
    co_await SleepFor(std::chrono::milliseconds(200));
  }
}

Task<Status> ComputeCluster::WaitForNodes(int count, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    auto st = co_await ReadCompute();
    if (st.ok() && static_cast<int>(st->nodes.size()) >= count) co_return Status::Ok();
    if (Clock::now() >= deadline)
      co_return DeadlineExceeded("fewer than {} compute nodes registered", count);
    co_await SleepFor(std::chrono::milliseconds(100));
  }
}

Task<Status> ComputeCluster::WaitGone(const std::string& id, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    auto st = co_await ReadCompute();
    if (st.ok() && !st->instances.contains(id)) co_return Status::Ok();
    if (Clock::now() >= deadline) co_return DeadlineExceeded("{} is still there", id);
    co_await SleepFor(std::chrono::milliseconds(200));
  }
}

Task<Result<std::string>> ComputeCluster::ImportImage(const std::string& name) {
  TG_CO_ASSIGN_OR_RETURN(std::string built, BuildInstanceImage(dir_.path() + "/image-build.log"));
  // The test's own copy: what was imported stays comparable even if the
  // image is rebuilt meanwhile.
  const std::string file = ImportedImageFile(name);
  std::error_code ec;
  std::filesystem::copy_file(built, file, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) co_return Internal("copy of {}: {}", built, ec.message());
  // Named vectors: a braced list inside co_await miscompiles with GCC 12.
  std::vector<std::string> args = {"image", "import", name, file};
  co_return co_await CliId(args);
}

Task<Result<ComputeCluster::Network>> ComputeCluster::MakeNetwork(const std::string& cidr,
                                                                  const std::string& subnet) {
  Network n;
  std::vector<std::string> vpc = {"vpc", "create", "--cidr", cidr};
  TG_CO_ASSIGN_OR_RETURN(n.vpc, co_await CliId(vpc));
  std::vector<std::string> vsw = {"vswitch", "create", "--vpc",  n.vpc,
                                  "--cidr",  subnet,   "--zone", "z1"};
  TG_CO_ASSIGN_OR_RETURN(n.vswitch, co_await CliId(vsw));
  std::vector<std::string> sg = {"sg", "create", "--vpc", n.vpc};
  TG_CO_ASSIGN_OR_RETURN(n.sg, co_await CliId(sg));
  std::vector<std::string> rule = {"sg",         "rule", "add",    n.sg, "--direction", "ingress",
                                   "--protocol", "all",  "--cidr", cidr, "--priority",  "1"};
  TG_CO_RETURN_IF_ERROR((co_await Cli(rule)).status());
  co_return n;
}

Result<std::string> BuildInstanceImage(const std::string& log) {
  const std::string image = std::string(TG_BUILD_DIR) + "/guest/tiangong-busybox.qcow2";
  auto build = ChildProcess::Spawn(
      {.argv = {std::string(TG_SOURCE_DIR) + "/tests/guest/build-disk-image", image},
       .output_path = log});
  if (!build.ok()) return build.status();
  auto st = build->Wait(std::chrono::seconds(600));
  if (!st.ok()) return st.status();
  if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return Internal("building the instance image failed: {}", ReadFile(log));
  return image;
}

std::string ConsoleLog(const std::string& run_dir) {
  return ReadFile(compute::ConsoleLogPath(run_dir));
}

bool WaitForConsole(const std::string& run_dir, const std::string& text, Duration timeout,
                    size_t times) {
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    const std::string log = ConsoleLog(run_dir);
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    if (n >= times) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<GuestConsole> GuestConsole::Connect(const std::string& run_dir, Duration timeout) {
  const std::string path = compute::SerialSocketPath(run_dir);
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      return GuestConsole(fd);
    ::close(fd);
    if (Clock::now() >= deadline) return Unavailable("no console at {}", path);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

GuestConsole::GuestConsole(GuestConsole&& o) noexcept : fd_(o.fd_), serial_(o.serial_) {
  o.fd_ = -1;
}

GuestConsole::~GuestConsole() {
  if (fd_ >= 0) ::close(fd_);
}

// Reads what the console says for up to `wait`, answering the line
// editor's cursor-position questions (ESC [ 6 n) as a terminal would.
bool GuestConsole::Read(std::string& seen, Duration wait) {
  pollfd p{.fd = fd_, .events = POLLIN};
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(ms, 0))) <= 0) return true;
  char buf[4096];
  ssize_t got = ::read(fd_, buf, sizeof buf);
  if (got <= 0) return false;
  const std::string chunk(buf, static_cast<size_t>(got));
  for (size_t at = chunk.find("\x1b[6n"); at != std::string::npos;
       at = chunk.find("\x1b[6n", at + 1)) {
    const char answer[] = "\x1b[1;1R";
    [[maybe_unused]] auto w = ::write(fd_, answer, sizeof answer - 1);
  }
  seen += chunk;
  return true;
}

Status GuestConsole::WaitForPrompt(Duration timeout) {
  // Keystrokes typed before the shell has its terminal are flushed away:
  // press Enter until a prompt answers.
  const TimePoint deadline = Clock::now() + timeout;
  std::string seen;
  while (Clock::now() < deadline) {
    if (::write(fd_, "\n", 1) != 1) return Unavailable("console write failed");
    const TimePoint next = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < next) {
      if (!Read(seen, next - Clock::now())) return Unavailable("console closed: {}", seen);
      if (seen.find("# ") != std::string::npos) return Status::Ok();
    }
  }
  return DeadlineExceeded("no shell prompt on the console; it said: {}", seen);
}

Result<std::string> GuestConsole::Run(const std::string& command, Duration timeout) {
  if (serial_ == 0) TG_RETURN_IF_ERROR(WaitForPrompt(std::chrono::seconds(60)));
  const int n = ++serial_;
  // The echo of the typed line shows "$?", the answer a number: only the
  // answer matches.
  const std::string line = fmt::format("{}; echo TG-EXIT-{} $?\n", command, n);
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return Unavailable("console write failed");
  const std::regex done(fmt::format("TG-EXIT-{} ([0-9]+)", n));
  std::string seen;
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    std::smatch m;
    if (std::regex_search(seen, m, done)) {
      std::string out = seen.substr(0, m.position(0));
      // Drop the echoed command line.
      if (auto eol = out.find('\n'); eol != std::string::npos) out = out.substr(eol + 1);
      return out + "TG-EXIT " + m[1].str();
    }
    if (Clock::now() >= deadline)
      return DeadlineExceeded("`{}` did not finish; the console said: {}", command, seen);
    if (!Read(seen, deadline - Clock::now()))
      return Unavailable("console closed; it said: {}", seen);
  }
}

}  // namespace tg::testing
