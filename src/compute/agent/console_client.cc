#include "compute/agent/console_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "base/unique_fd.h"
#include "compute/qemu/qemu_command.h"

namespace tg::compute {

namespace {

// Raw mode for the terminal while joined (keys go to the guest as typed,
// Ctrl-C included), restored however we leave.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Status JoinConsole(const std::string& run_dir, int in_fd, int out_fd) {
  const std::string path = SerialSocketPath(run_dir);
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return InvalidArgument("console path too long: {}", path);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return ErrnoStatus(errno, "socket");
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Unavailable("no console at {} (is the instance running on this host?)", path);
  RawTerminal raw(in_fd);
  char buf[4096];
  for (;;) {
    pollfd fds[2] = {{.fd = in_fd, .events = POLLIN}, {.fd = sock.get(), .events = POLLIN}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "poll");
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock.get(), buf, sizeof buf);
      if (n <= 0) return Status::Ok();  // QEMU went
      if (!WriteAll(out_fd, buf, static_cast<size_t>(n))) return Status::Ok();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(in_fd, buf, sizeof buf);
      if (n <= 0) return Status::Ok();
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == kConsoleEscape) {
          WriteAll(sock.get(), buf, static_cast<size_t>(i));
          return Status::Ok();
        }
      }
      if (!WriteAll(sock.get(), buf, static_cast<size_t>(n))) return Status::Ok();
    }
  }
}

}  // namespace tg::compute
