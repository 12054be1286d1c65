// A vhost-user-blk frontend load generator: it plays QEMU and the guest
// driver at once (memfd guest memory, SET_MEM_TABLE, one split virtqueue,
// kicks and calls through eventfds) and issues 4 KiB random reads or writes at
// a chosen queue depth against any vhost-user-blk backend.
//   vhost_blk_loadgen SOCKET read|write QUEUE_DEPTH SECONDS
// Prints: "iops=<n> mean_latency_us=<x>".
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "vhost/message.h"
#include "virtio/blk.h"
#include "virtio/split_queue.h"

namespace {

using namespace tg;
using vhost::Pack;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "vhost_blk_loadgen: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

class Frontend {
 public:
  explicit Frontend(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("connect " + path);
  }
  void Send(uint32_t request, const std::vector<uint8_t>& payload, std::vector<int> fds = {}) {
    std::vector<uint8_t> msg(12);
    uint32_t flags = vhost::kFlagVersion, size = static_cast<uint32_t>(payload.size());
    std::memcpy(msg.data(), &request, 4);
    std::memcpy(msg.data() + 4, &flags, 4);
    std::memcpy(msg.data() + 8, &size, 4);
    msg.insert(msg.end(), payload.begin(), payload.end());
    iovec iov{msg.data(), msg.size()};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<size_t>(fds.size(), 1)));
    if (!fds.empty()) {
      h.msg_control = control.data();
      h.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    if (sendmsg(fd_, &h, MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) Die("sendmsg");
  }
  uint64_t GetU64(uint32_t request) {
    Send(request, {});
    uint8_t reply[20];
    size_t got = 0;
    while (got < sizeof reply) {
      ssize_t n = read(fd_, reply + got, sizeof reply - got);
      if (n <= 0) Die("read reply");
      got += static_cast<size_t>(n);
    }
    uint64_t v;
    std::memcpy(&v, reply + 12, 8);
    return v;
  }

 private:
  int fd_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s SOCKET read|write QUEUE_DEPTH SECONDS\n", argv[0]);
    return 2;
  }
  const bool write = std::string(argv[2]) == "write";
  const int qd = std::atoi(argv[3]);
  const double seconds = std::atof(argv[4]);
  constexpr uint16_t kQueueSize = 256;
  if (qd < 1 || qd * 3 > kQueueSize) {
    std::fprintf(stderr, "queue depth must be 1..%d\n", kQueueSize / 3);
    return 2;
  }

  // Guest memory: rings at the start, then per-slot header/data/status.
  const size_t mem_size = 16 << 20;
  int memfd = memfd_create("loadgen-guest", MFD_CLOEXEC);
  if (memfd < 0 || ftruncate(memfd, mem_size) != 0) Die("memfd");
  auto* mem =
      static_cast<uint8_t*>(mmap(nullptr, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  if (mem == MAP_FAILED) Die("mmap");
  const uint64_t uva = reinterpret_cast<uint64_t>(mem);
  const uint64_t desc_off = 0, avail_off = 4096, used_off = 8192, slots_off = 1 << 20;
  auto slot_header = [&](int s) { return slots_off + uint64_t(s) * 8192; };
  auto slot_data = [&](int s) { return slot_header(s) + 4096; };  // 4 KiB-aligned data
  auto slot_status = [&](int s) { return slot_header(s) + 16; };

  Frontend fe(argv[1]);
  const uint64_t offered = fe.GetU64(vhost::kGetFeatures);
  const uint64_t features = offered & (virtio::kFVersion1 | vhost::kFeatureProtocolFeatures);
  const bool protocol = features & vhost::kFeatureProtocolFeatures;
  if (protocol) {
    (void)fe.GetU64(vhost::kGetProtocolFeatures);
    fe.Send(vhost::kSetProtocolFeatures, Pack(uint64_t{0}));
  }
  fe.Send(vhost::kSetOwner, {});
  fe.Send(vhost::kSetFeatures, Pack(features));
  fe.Send(vhost::kSetMemTable,
          Pack(uint32_t{1}, uint32_t{0}, uint64_t{0}, uint64_t{mem_size}, uva, uint64_t{0}),
          {memfd});
  int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
  fe.Send(vhost::kSetVringNum, Pack(uint32_t{0}, uint32_t{kQueueSize}));
  fe.Send(vhost::kSetVringBase, Pack(uint32_t{0}, uint32_t{0}));
  fe.Send(vhost::kSetVringAddr, Pack(uint32_t{0}, uint32_t{0}, uva + desc_off, uva + used_off,
                                     uva + avail_off, uint64_t{0}));
  fe.Send(vhost::kSetVringCall, Pack(uint64_t{0}), {call});
  fe.Send(vhost::kSetVringKick, Pack(uint64_t{0}), {kick});
  if (protocol) fe.Send(vhost::kSetVringEnable, Pack(uint32_t{0}, uint32_t{1}));

  // Random 4 KiB-aligned sectors within the first 1 GiB.
  std::mt19937_64 rng(42);
  const uint64_t blocks = (1ull << 30) / 4096;
  std::vector<Clock::time_point> started(qd);
  uint16_t avail_idx = 0, used_seen = 0;
  auto* avail_idx_p = reinterpret_cast<uint16_t*>(mem + avail_off + 2);
  auto* used_idx_p = reinterpret_cast<uint16_t*>(mem + used_off + 2);

  auto submit = [&](int s) {
    uint32_t type = write ? virtio::kBlkOut : virtio::kBlkIn;
    uint64_t sector = (rng() % blocks) * 8;
    std::memcpy(mem + slot_header(s), &type, 4);
    std::memset(mem + slot_header(s) + 4, 0, 4);
    std::memcpy(mem + slot_header(s) + 8, &sector, 8);
    const uint16_t d0 = static_cast<uint16_t>(s * 3);
    struct D {
      uint64_t addr;
      uint32_t len;
      uint16_t flags, next;
    } descs[3] = {
        {slot_header(s), 16, virtio::kDescFlagNext, static_cast<uint16_t>(d0 + 1)},
        {slot_data(s), 4096,
         static_cast<uint16_t>(virtio::kDescFlagNext | (write ? 0 : virtio::kDescFlagWrite)),
         static_cast<uint16_t>(d0 + 2)},
        {slot_status(s), 1, virtio::kDescFlagWrite, 0}};
    std::memcpy(mem + desc_off + 16 * d0, descs, sizeof descs);
    std::memcpy(mem + avail_off + 4 + 2 * (avail_idx % kQueueSize), &d0, 2);
    ++avail_idx;
    std::atomic_ref<uint16_t>(*avail_idx_p).store(avail_idx, std::memory_order_release);
    started[s] = Clock::now();
  };

  for (int s = 0; s < qd; ++s) submit(s);
  uint64_t one = 1;
  if (::write(kick, &one, 8) != 8) Die("kick");
  uint64_t done = 0;
  double latency_sum_us = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    // The backend may have made the eventfd non-blocking (it shares the open
    // file): wait with poll, then read.
    pollfd p{call, POLLIN, 0};
    if (poll(&p, 1, 1000) < 0) Die("poll");
    uint64_t n;
    if (read(call, &n, 8) != 8) {
      if (errno == EAGAIN) continue;
      Die("wait for call");
    }
    const uint16_t used = std::atomic_ref<uint16_t>(*used_idx_p).load(std::memory_order_acquire);
    bool resubmitted = false;
    while (used_seen != used) {
      uint32_t id;
      std::memcpy(&id, mem + used_off + 4 + 8 * (used_seen % kQueueSize), 4);
      ++used_seen;
      const int s = static_cast<int>(id / 3);
      if (mem[slot_status(s)] != virtio::kBlkOk) {
        std::fprintf(stderr, "request failed with status %d\n", mem[slot_status(s)]);
        return 1;
      }
      latency_sum_us +=
          std::chrono::duration<double, std::micro>(Clock::now() - started[s]).count();
      ++done;
      submit(s);
      resubmitted = true;
    }
    if (resubmitted && ::write(kick, &one, 8) != 8) Die("kick");
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("iops=%.0f mean_latency_us=%.1f\n", done / elapsed,
              done ? latency_sum_us / done : 0.0);
  return 0;
}
