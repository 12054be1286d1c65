// libFuzzer target: whole vhost-user sessions through the real connection
// handler (vhost::ServeConnection) and the virtio-blk device, over a socket
// pair, where the message parsers' target stops. The input is a program of
// steps a frontend and its guest can take in any order: messages with fds
// (memfds made here, sealed or not, sized to fit their regions or not;
// eventfds), ring setups and teardowns, inflight regions, requests written
// into the rings, kicks, and files shrunk under running rings. The backend
// may refuse anything (the connection ends); it must never crash, hang, or
// let an exception out.
#include <sys/mman.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "base/log.h"
#include "vhost/frontend_harness.h"
#include "vhost_blk/blk_device.h"
#include "virtio/fake_driver.h"

using namespace tg;
using tg::testing::BackendSession;
using tg::testing::FakeDriver;
using tg::testing::SharedMemfd;

namespace {

// Reads the program; past its end every value is 0.
class Program {
 public:
  Program(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  template <typename T>
  T Take() {
    T v{};
    const size_t n = std::min(sizeof v, size_ - std::min(at_, size_));
    if (n) std::memcpy(&v, data_ + at_, n);
    at_ += sizeof v;
    return v;
  }
  std::span<const uint8_t> Bytes(size_t max) {
    const size_t n = std::min<size_t>(max, size_ - std::min(at_, size_));
    auto out = std::span(data_ + std::min(at_, size_), n);
    at_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

constexpr size_t kMemfds = 3;
constexpr size_t kEventFds = 3;
constexpr uint32_t kQueues = 2;  // the device's; index 2 is one too many

// Ring sizes a frontend might ask for: valid, the extremes, and not powers of 2.
uint32_t RingSize(uint8_t pick, Program& p) {
  static constexpr std::array<uint32_t, 9> kSizes = {1, 2, 8, 64, 256, 1024, 32768, 0, 3};
  return pick < kSizes.size() * 24 ? kSizes[pick % kSizes.size()] : p.Take<uint16_t>();
}

// Frontend-virtual and guest-physical places of memfd `i` when it is mapped
// where the program's "natural" choices put it.
uint64_t UserBase(size_t i) {
  return FakeDriver::kUserBase + (uint64_t{i} << 28);
}
uint64_t GuestBase(size_t i) {
  return FakeDriver::kGuestBase + (uint64_t{i} << 28);
}

struct Session {
  explicit Session(vhost::Device& device) : backend(device) {}
  BackendSession backend;
  std::array<std::unique_ptr<SharedMemfd>, kMemfds> memfds;
  std::array<bool, kMemfds> shrunk{};  // our own view is unusable: never touch it
  std::array<UniqueFd, kEventFds> events;

  int Memfd(uint8_t pick) {
    auto& m = memfds[pick % kMemfds];
    return m ? m->fd() : -1;
  }
  int Event(uint8_t pick) {
    auto& e = events[pick % kEventFds];
    if (!e.valid()) e = tg::testing::MakeEventFd();
    return e.get();
  }
};

void Step(Session& s, Program& p) {
  BackendSession& b = s.backend;
  const uint8_t op = p.Take<uint8_t>();
  switch (op % 18) {
    case 0:
      b.Negotiate(p.Take<uint64_t>() | (uint64_t{1} << 30));
      break;
    case 1: {  // a new memfd: 4 KiB .. 2 MiB, sealed or not
      const uint8_t which = p.Take<uint8_t>() % kMemfds;
      const size_t size = (size_t{p.Take<uint8_t>()} % 128 + 1) * (16 << 10);
      s.memfds[which] = std::make_unique<SharedMemfd>(size, p.Take<uint8_t>() & 1);
      s.shrunk[which] = false;
      if (!s.memfds[which]->ok()) s.memfds[which].reset();
      break;
    }
    case 2: {  // a memory table: each region whole and natural, or anything
      const uint8_t count = p.Take<uint8_t>() % 3 + 1;
      std::vector<virtio::MemoryRegion> regions;
      std::vector<int> fds;
      for (uint8_t r = 0; r < count; ++r) {
        const uint8_t which = p.Take<uint8_t>() % kMemfds;
        const int fd = s.Memfd(which);
        if (fd < 0) continue;
        virtio::MemoryRegion region{.guest_phys_addr = GuestBase(which),
                                    .size = s.memfds[which]->size(),
                                    .user_addr = UserBase(which),
                                    .mmap_offset = 0};
        const uint8_t how = p.Take<uint8_t>();
        if (how & 1) region.size = p.Take<uint32_t>();
        if (how & 2) region.mmap_offset = p.Take<uint32_t>();
        if (how & 4) region.guest_phys_addr = p.Take<uint64_t>();
        if (how & 8) region.user_addr = p.Take<uint64_t>();
        regions.push_back(region);
        fds.push_back((how & 16) ? s.Event(how) : fd);
      }
      if (!regions.empty()) b.Send(vhost::kSetMemTable, tg::testing::MemTablePayload(regions), fds);
      break;
    }
    case 3: {  // SET_INFLIGHT_FD over a memfd
      const int fd = s.Memfd(p.Take<uint8_t>());
      const uint64_t size = p.Take<uint16_t>() * uint64_t{64};
      const uint64_t offset = (p.Take<uint8_t>() & 1) ? p.Take<uint16_t>() : 0;
      const uint16_t queues = p.Take<uint8_t>() % 4;
      const uint16_t queue_size = static_cast<uint16_t>(RingSize(p.Take<uint8_t>(), p));
      const int fds[] = {fd};
      if (fd >= 0)
        b.Send(vhost::kSetInflightFd, vhost::Pack(size, offset, queues, queue_size, uint32_t{0}),
               fds);
      break;
    }
    case 4: {  // GET_INFLIGHT_FD
      const uint16_t queues = p.Take<uint8_t>() % 4;
      const uint16_t queue_size = static_cast<uint16_t>(RingSize(p.Take<uint8_t>(), p));
      b.Send(vhost::kGetInflightFd,
             vhost::Pack(uint64_t{0}, uint64_t{0}, queues, queue_size, uint32_t{0}));
      break;
    }
    case 5:
      b.Send(vhost::kSetVringNum, vhost::Pack(uint32_t{p.Take<uint8_t>() % (kQueues + 1u)},
                                              RingSize(p.Take<uint8_t>(), p)));
      break;
    case 6: {  // ring addresses: FakeDriver's layout in a memfd, or anything
      const uint32_t index = p.Take<uint8_t>() % (kQueues + 1);
      const uint8_t which = p.Take<uint8_t>() % kMemfds;
      const uint16_t size = static_cast<uint16_t>(RingSize(p.Take<uint8_t>(), p));
      uint64_t desc = UserBase(which), avail = desc + virtio::DescTableBytes(size);
      uint64_t used =
          desc + (virtio::DescTableBytes(size) + virtio::AvailRingBytes(size) + 3) / 4 * 4;
      if (p.Take<uint8_t>() & 1) {
        desc = UserBase(which) + p.Take<uint32_t>();
        avail = UserBase(which) + p.Take<uint32_t>();
        used = UserBase(which) + p.Take<uint32_t>();
      }
      b.Send(vhost::kSetVringAddr, vhost::Pack(index, uint32_t{0}, desc, used, avail, uint64_t{0}));
      break;
    }
    case 7:
      b.Send(vhost::kSetVringBase, vhost::Pack(uint32_t{p.Take<uint8_t>() % (kQueues + 1u)},
                                               uint32_t{p.Take<uint16_t>()}));
      break;
    case 8:    // SET_VRING_KICK
    case 9: {  // SET_VRING_CALL
      const uint8_t index = p.Take<uint8_t>() % (kQueues + 1);
      const uint8_t how = p.Take<uint8_t>();
      uint64_t v = index;
      std::vector<int> fds;
      if (how & 1) v |= vhost::kVringNoFd;
      if (how & 2) fds.push_back((how & 4) ? std::max(s.Memfd(how), 0) : s.Event(how >> 3));
      b.Send(op % 18 == 8 ? vhost::kSetVringKick : vhost::kSetVringCall, vhost::EncodeU64(v), fds);
      break;
    }
    case 10:
      b.Send(vhost::kSetVringEnable, vhost::Pack(uint32_t{p.Take<uint8_t>() % (kQueues + 1u)},
                                                 uint32_t{p.Take<uint8_t>() & 1u}));
      break;
    case 11:
      b.Send(vhost::kGetVringBase,
             vhost::Pack(uint32_t{p.Take<uint8_t>() % (kQueues + 1u)}, uint32_t{0}));
      break;
    case 12:
      b.Kick(s.Event(p.Take<uint8_t>()));
      break;
    case 13: {  // the guest writes into its memory (through the file: never a SIGBUS here)
      const int fd = s.Memfd(p.Take<uint8_t>());
      const uint32_t offset = p.Take<uint32_t>() % (2 << 20);
      auto bytes = p.Bytes(p.Take<uint8_t>());
      if (fd >= 0) (void)!pwrite(fd, bytes.data(), bytes.size(), offset);
      break;
    }
    case 14: {  // the guest puts a well-formed block request into a ring laid out by FakeDriver
      const uint8_t which = p.Take<uint8_t>() % kMemfds;
      const uint16_t size = static_cast<uint16_t>(RingSize(p.Take<uint8_t>(), p));
      const uint8_t type = p.Take<uint8_t>();
      const uint64_t sector = p.Take<uint16_t>() % 4096;
      const uint32_t len = (p.Take<uint16_t>() % 17) * 512;
      const uint16_t head = p.Take<uint16_t>();
      const uint8_t kick = p.Take<uint8_t>();
      auto& memfd = s.memfds[which];
      if (!memfd || s.shrunk[which] || size == 0 || (size & (size - 1))) break;
      const size_t rings = (virtio::DescTableBytes(size) + virtio::AvailRingBytes(size) +
                            virtio::UsedRingBytes(size) + 8191) /
                           4096 * 4096;
      if (memfd->size() < rings + len + 64) break;  // the header, data and status after the rings
      FakeDriver d(size, memfd->data(), memfd->size());
      const uint64_t header = d.Alloc(16), data = d.Alloc(len), status = d.Alloc(1);
      static constexpr std::array<uint32_t, 7> kTypes = {virtio::kBlkIn,
                                                         virtio::kBlkOut,
                                                         virtio::kBlkFlush,
                                                         virtio::kBlkGetId,
                                                         virtio::kBlkDiscard,
                                                         virtio::kBlkWriteZeroes,
                                                         99};
      const uint32_t t = kTypes[type % kTypes.size()];
      std::memcpy(d.host(header), &t, 4);
      std::memset(d.host(header) + 4, 0, 4);
      std::memcpy(d.host(header) + 8, &sector, 8);
      std::vector<FakeDriver::Seg> segs = {{header, 16, false}};
      if (len) segs.push_back({data, len, t == virtio::kBlkIn || t == virtio::kBlkGetId});
      segs.push_back({status, 1, true});
      d.AddChain(segs, static_cast<uint16_t>(head % size));
      b.Kick(s.Event(kick));  // as a driver does after publishing
      break;
    }
    case 15: {  // the frontend shrinks a memfd under whatever maps it
      const uint8_t which = p.Take<uint8_t>() % kMemfds;
      const uint32_t size = p.Take<uint32_t>();
      auto& memfd = s.memfds[which];
      if (memfd && size < memfd->size() && memfd->Truncate(size)) s.shrunk[which] = true;
      break;
    }
    case 16: {  // a whole ring start, as QEMU sends it, over FakeDriver's layout in a memfd
      const uint32_t index = p.Take<uint8_t>() % (kQueues + 1);
      const uint8_t which = p.Take<uint8_t>() % kMemfds;
      const uint16_t size = static_cast<uint16_t>(RingSize(p.Take<uint8_t>(), p));
      const uint64_t desc = UserBase(which), avail = desc + virtio::DescTableBytes(size);
      const uint64_t used =
          desc + (virtio::DescTableBytes(size) + virtio::AvailRingBytes(size) + 3) / 4 * 4;
      b.StartRing(index, size, desc, avail, used, s.Event(index), s.Event(index + 1));
      break;
    }
    default: {  // any request at all, with any payload and maybe an fd
      const uint32_t request = p.Take<uint8_t>() % 40;
      const uint8_t how = p.Take<uint8_t>();
      const uint32_t flags = (how & 1) ? how : vhost::kFlagVersion | vhost::kFlagNeedReply;
      auto payload = p.Bytes(p.Take<uint8_t>());
      std::vector<int> fds;
      if (how & 2) fds.push_back(s.Event(how));
      b.Send(request, payload, fds, flags);
      break;
    }
  }
  b.DiscardReplies();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)log::Configure("off", "text");  // refusals are the point; their lines only slow us down
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto volume = std::move(volume::MakeMemoryVolume(1 << 20).value());
  static vhost_blk::BlkDevice device(*volume, kQueues, "fuzz");
  Program program(data, size);
  {
    Session s(device);
    // Half the sessions start from a running ring (ring 0 of 8 over a 1 MiB
    // memfd), so that the steps after it reach the queue and the device.
    const uint8_t start = program.Take<uint8_t>();
    if (start & 1) {
      s.backend.Negotiate();
      s.memfds[0] = std::make_unique<SharedMemfd>(1 << 20, true);
      const int fds[] = {s.memfds[0]->fd()};
      s.backend.Send(vhost::kSetMemTable,
                     tg::testing::MemTablePayload({{.guest_phys_addr = GuestBase(0),
                                                    .size = 1 << 20,
                                                    .user_addr = UserBase(0),
                                                    .mmap_offset = 0}}),
                     fds);
      // And maybe an inflight region for both queues of 8, as a previous
      // backend may have left it: what it holds comes from the program.
      if (start & 2) {
        constexpr uint64_t kInflightBytes = 2 * 192;  // 2 queues of align64(16 + 16 * 8)
        s.memfds[2] = std::make_unique<SharedMemfd>(4096, true);
        auto marks = program.Bytes(program.Take<uint8_t>());
        (void)!pwrite(s.memfds[2]->fd(), marks.data(), marks.size(), 0);
        const int inflight[] = {s.memfds[2]->fd()};
        s.backend.Send(
            vhost::kSetInflightFd,
            vhost::Pack(kInflightBytes, uint64_t{0}, uint16_t{2}, uint16_t{8}, uint32_t{0}),
            inflight);
      }
      FakeDriver layout(8, s.memfds[0]->data(), 1 << 20);
      s.backend.StartRing(0, 8, layout.desc_addr(), layout.avail_addr(), layout.used_addr(),
                          s.Event(0), s.Event(1));
    }
    for (int steps = 0; !program.done() && steps < 64; ++steps) Step(s, program);
    // The frontend leaves: the connection must end, with every request finished.
    if (!s.backend.Finish().ok() && !s.backend.backend_done()) {
      std::fprintf(stderr, "the backend did not end its connection\n");
      std::abort();
    }
  }
  return 0;
}
