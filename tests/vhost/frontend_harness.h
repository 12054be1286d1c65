// A vhost-user frontend for tests and the session fuzzer: it plays QEMU's
// part against the real connection handler (vhost::ServeConnection) over a
// Unix socket pair, in this process and thread, so a sanitizer sees every
// access the backend makes. Guest memory lives in memfds both sides map;
// messages carry fds as QEMU's do; the backend's event loop runs between
// steps, so each message (and each kick) is handled before the next one.
// Header-only: the fuzz targets are built straight from sources.
#pragma once

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "base/unique_fd.h"
#include "vhost/backend.h"
#include "vhost/message.h"

namespace tg::testing {

// A memfd the frontend maps too, as QEMU's memory-backend-memfd makes them.
class SharedMemfd {
 public:
  SharedMemfd(size_t size, bool sealed) : size_(size) {
    fd_.Reset(memfd_create("test-guest-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd_.valid() || ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) return;
    if (sealed) (void)fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p != MAP_FAILED) data_ = static_cast<uint8_t*>(p);
  }
  ~SharedMemfd() {
    if (data_) munmap(data_, size_);
  }
  SharedMemfd(const SharedMemfd&) = delete;
  SharedMemfd& operator=(const SharedMemfd&) = delete;

  bool ok() const { return data_ != nullptr; }
  int fd() const { return fd_.get(); }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // What a hostile frontend does. Our own view past `size` is gone too:
  // touching it would be a SIGBUS in the test itself.
  bool Truncate(size_t size) { return ftruncate(fd_.get(), static_cast<off_t>(size)) == 0; }

 private:
  UniqueFd fd_;
  uint8_t* data_ = nullptr;
  size_t size_;
};

inline UniqueFd MakeEventFd() {
  return UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

// One memory table region as a payload of SET_MEM_TABLE.
inline std::vector<uint8_t> MemTablePayload(const std::vector<virtio::MemoryRegion>& regions) {
  auto out = vhost::Pack(static_cast<uint32_t>(regions.size()), uint32_t{0});
  for (const auto& r : regions) {
    auto one = vhost::Pack(r.guest_phys_addr, r.size, r.user_addr, r.mmap_offset);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

class BackendSession {
 public:
  struct Reply {
    vhost::Header header;
    std::vector<uint8_t> payload;
    UniqueFd fd;  // the fd that came with it, if any
  };

  explicit BackendSession(vhost::Device& device) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return;
    frontend_.Reset(fds[0]);
    asio::local::stream_protocol::socket backend(io_, asio::local::stream_protocol(), fds[1]);
    asio::co_spawn(io_, vhost::ServeConnection(io_.get_executor(), device, std::move(backend)),
                   [this](std::exception_ptr e, Status s) {
                     if (e) std::rethrow_exception(e);  // an escaped exception is a bug
                     result_ = std::move(s);
                   });
    RunUntilIdle();
  }
  ~BackendSession() { (void)Finish(); }
  BackendSession(const BackendSession&) = delete;
  BackendSession& operator=(const BackendSession&) = delete;

  // Runs the backend until it has nothing ready to do (its rings poll for
  // up to 50 us before they sleep on their kick, so this ends).
  void RunUntilIdle() {
    for (;;) {
      io_.restart();
      if (io_.poll() == 0) return;
    }
  }

  // Sends one message with its fds; false once the backend has closed.
  bool Send(uint32_t request, std::span<const uint8_t> payload, std::span<const int> fds = {},
            uint32_t flags = vhost::kFlagVersion) {
    auto bytes = vhost::Pack(request, flags, static_cast<uint32_t>(payload.size()));
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    iovec iov{bytes.data(), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * vhost::kMaxFds)];
    if (!fds.empty() && fds.size() <= vhost::kMaxFds) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const bool sent = sendmsg(frontend_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT) ==
                      static_cast<ssize_t>(bytes.size());
    RunUntilIdle();
    return sent;
  }

  // The next reply, running the backend until it comes; nullopt if the
  // connection closed first (or nothing came for `patience`).
  std::optional<Reply> Receive(std::chrono::milliseconds patience = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + patience;
    Reply reply;
    uint8_t header[vhost::kHeaderSize];
    if (!ReceiveExactly(header, sizeof header, &reply.fd, until)) return std::nullopt;
    auto parsed = vhost::ParseHeader(header);
    if (!parsed.ok()) return std::nullopt;
    reply.header = *parsed;
    reply.payload.resize(reply.header.size);
    if (!ReceiveExactly(reply.payload.data(), reply.payload.size(), &reply.fd, until))
      return std::nullopt;
    return reply;
  }

  // Sends with NEED_REPLY (acks must have been negotiated) and returns the
  // ack: 0 when the backend did it. nullopt: the connection closed.
  std::optional<uint64_t> Call(uint32_t request, std::span<const uint8_t> payload,
                               std::span<const int> fds = {}) {
    if (!Send(request, payload, fds, vhost::kFlagVersion | vhost::kFlagNeedReply))
      return std::nullopt;
    auto reply = Receive();
    if (!reply || reply->payload.size() != 8) return std::nullopt;
    uint64_t v;
    std::memcpy(&v, reply->payload.data(), 8);
    return v;
  }

  // A request with a u64 reply (GET_FEATURES and the like).
  std::optional<uint64_t> GetU64(uint32_t request) {
    if (!Send(request, {})) return std::nullopt;
    auto reply = Receive();
    if (!reply || reply->payload.size() != 8) return std::nullopt;
    uint64_t v;
    std::memcpy(&v, reply->payload.data(), 8);
    return v;
  }

  // Features as QEMU negotiates them: everything offered (the virtio
  // feature bits masked by `features`), every protocol feature offered.
  bool Negotiate(uint64_t features = ~uint64_t{0}) {
    auto offered = GetU64(vhost::kGetFeatures);
    if (!offered || !Send(vhost::kSetFeatures, vhost::EncodeU64(*offered & features))) return false;
    auto protocol = GetU64(vhost::kGetProtocolFeatures);
    return protocol && Send(vhost::kSetProtocolFeatures, vhost::EncodeU64(*protocol));
  }

  // Starts ring `index` as QEMU does (size, address, base 0, call, kick,
  // enable), at frontend-virtual ring addresses. False once the backend has
  // closed the connection.
  bool StartRing(uint32_t index, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used,
                 int kick, int call) {
    const int call_fd[] = {call}, kick_fd[] = {kick};
    Send(vhost::kSetVringNum, vhost::Pack(index, num));
    Send(vhost::kSetVringAddr, vhost::Pack(index, uint32_t{0}, desc, used, avail, uint64_t{0}));
    Send(vhost::kSetVringBase, vhost::Pack(index, uint32_t{0}));
    Send(vhost::kSetVringCall, vhost::EncodeU64(index), call_fd);
    Send(vhost::kSetVringKick, vhost::EncodeU64(index), kick_fd);
    Send(vhost::kSetVringEnable, vhost::Pack(index, uint32_t{1}));
    return !backend_done();
  }

  // Kicks a ring through its eventfd and lets the backend take the work.
  void Kick(int kick) {
    const uint64_t one = 1;
    (void)!::write(kick, &one, sizeof one);
    RunUntilIdle();
  }

  // Throws away whatever replies are waiting (the fuzzer does not read
  // them), closing the fds they carry.
  void DiscardReplies() {
    uint8_t buf[4096];
    while (ReceiveSome(buf, sizeof buf, nullptr) > 0) {
    }
  }

  // Whether the backend has ended the connection (and with what).
  bool backend_done() const { return result_.has_value(); }
  const Status& backend_result() const { return *result_; }

  // Hangs up, as a frontend that leaves, and runs the backend until its
  // connection has ended (its rings stopped, its requests finished).
  Status Finish(std::chrono::milliseconds patience = std::chrono::seconds(10)) {
    frontend_.Reset();
    const auto until = std::chrono::steady_clock::now() + patience;
    while (!result_) {
      if (!WaitForBackend(until)) return DeadlineExceeded("the backend did not end its connection");
    }
    return *result_;
  }

  asio::io_context& io() { return io_; }

 private:
  // One recvmsg without waiting. The first fd that comes along goes to
  // `fd` (if given and still empty); any other is closed.
  ssize_t ReceiveSome(uint8_t* buf, size_t len, UniqueFd* fd) {
    iovec iov{buf, len};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * vhost::kMaxFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(frontend_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
      for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int received;
        std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
        if (fd && !fd->valid()) {
          fd->Reset(received);
        } else {
          ::close(received);
        }
      }
    }
    return n;
  }

  // `len` bytes, running the backend while they are not there yet; false
  // if the connection closed or `until` passed first.
  bool ReceiveExactly(uint8_t* buf, size_t len, UniqueFd* fd,
                      std::chrono::steady_clock::time_point until) {
    size_t got = 0;
    while (got < len) {
      const ssize_t n = ReceiveSome(buf + got, len - got, fd);
      if (n == 0) return false;
      if (n > 0) {
        got += static_cast<size_t>(n);
      } else if ((errno != EAGAIN && errno != EINTR) || !WaitForBackend(until)) {
        return false;
      }
    }
    return true;
  }

  // Runs the backend a little; false once `until` has passed.
  bool WaitForBackend(std::chrono::steady_clock::time_point until) {
    if (std::chrono::steady_clock::now() >= until) return false;
    io_.restart();
    io_.run_for(std::chrono::milliseconds(1));
    return true;
  }

  asio::io_context io_;
  UniqueFd frontend_;
  std::optional<Status> result_;
};

}  // namespace tg::testing
