#include "base/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace tg {

extern "C" char** environ;

Result<ChildProcess> ChildProcess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return InvalidArgument("spawn: empty argv");
  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed.
  std::vector<char*> argv;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  for (const auto& e : options.extra_env) env_storage.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_fd = -1;
  if (!options.output_path.empty()) {
    out_fd = ::open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) return ErrnoStatus(errno, "open " + options.output_path);
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    if (out_fd >= 0) close(out_fd);
    return ErrnoStatus(err, "fork");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0, 0);  // own process group: a terminal's Ctrl-C reaches only us
    if (out_fd >= 0) {
      dup2(out_fd, STDOUT_FILENO);
      dup2(out_fd, STDERR_FILENO);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Nothing else of ours goes with it: a child that outlives us (a
    // daemonized QEMU) would otherwise keep our sockets (a vSwitch's UDP
    // port, a backend's listening socket) open and bound after we are gone.
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execvpe(argv[0], argv.data(), envp.data());
    const char msg[] = "exec failed\n";
    [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  if (out_fd >= 0) close(out_fd);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return ErrnoStatus(err, "pidfd_open");
  }
  return ChildProcess(pid, pidfd);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      exit_status_(other.exit_status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    this->~ChildProcess();
    new (this) ChildProcess(std::move(other));
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_status_) {
    kill(-pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
  }
  if (pidfd_ >= 0) close(pidfd_);
}

void ChildProcess::Reap(int wait_status) {
  exit_status_ = wait_status;
}

bool ChildProcess::running() {
  if (exit_status_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) Reap(st);
  return !exit_status_;
}

Status ChildProcess::Signal(int signo) {
  if (!running()) return FailedPrecondition("process {} has already exited", pid_);
  if (kill(pid_, signo) != 0) return ErrnoStatus(errno, fmt::format("kill {}", pid_));
  return Status::Ok();
}

Result<int> ChildProcess::Wait(Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) {
      return DeadlineExceeded(
          "process {} still running after {} ms", pid_,
          std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    }
    std::this_thread::sleep_for(10ms);
  }
  return *exit_status_;
}

Result<int> ChildProcess::Stop(Duration grace) {
  if (running()) kill(pid_, SIGTERM);
  auto r = Wait(grace);
  if (r.ok()) return r;
  kill(-pid_, SIGKILL);  // the whole group: no grandchild survives
  return Wait(10s);
}

Task<Status> ChildProcess::AsyncWaitExit(Executor ex) {
  if (!running()) co_return Status::Ok();
  // The pidfd becomes readable when the process exits.
  int fd = dup(pidfd_);
  if (fd < 0) co_return ErrnoStatus(errno, "dup pidfd");
  asio::posix::stream_descriptor sd(ex, fd);
  boost::system::error_code ec;
  co_await sd.async_wait(asio::posix::descriptor::wait_read,
                         asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Cancelled("waiting for process {}: {}", pid_, ec.message());
  running();  // reap
  co_return Status::Ok();
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with code {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(st), strsignal(WTERMSIG(st)));
  }
  return fmt::format("wait status {}", st);
}

}  // namespace tg
