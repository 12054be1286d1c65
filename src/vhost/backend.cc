#include "vhost/backend.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/listen.h"
#include "base/log.h"
#include "vhost/message.h"
#include "virtio/blk.h"
#include "virtio/dirty_log.h"
#include "virtio/shared_mapping.h"

namespace tg::vhost {

namespace {

auto Log() {
  static auto log = log::Get("vhost");
  return log;
}

// The inflight region (our own layout; the frontend only keeps it for us).
// Per queue, 64-byte aligned: a header, then one entry per descriptor head.
struct InflightHeader {
  uint64_t features;
  uint16_t version;  // 0: never used
  uint16_t desc_num;
  uint16_t last_batch_head;
  uint16_t used_idx;
};
struct InflightDesc {
  uint8_t inflight;
  uint8_t padding[5];
  uint16_t next;
  uint64_t counter;  // submission order, for resubmitting in order
};
static_assert(sizeof(InflightHeader) == 16 && sizeof(InflightDesc) == 16);

uint64_t InflightQueueBytes(uint16_t queue_size) {
  return (sizeof(InflightHeader) + sizeof(InflightDesc) * uint64_t{queue_size} + 63) / 64 * 64;
}

struct Message {
  Header header;
  std::vector<uint8_t> payload;
  std::vector<UniqueFd> fds;
};

}  // namespace

class Connection {
 public:
  Connection(Executor ex, Device& device, asio::local::stream_protocol::socket socket)
      : ex_(ex),
        device_(device),
        socket_(std::move(socket)),
        tasks_(ex),
        rings_(device.NumQueues()) {}

  // Ends Run: the next read fails, the rings stop.
  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  Task<Status> Run() {
    Status result;
    for (;;) {
      auto m = co_await ReadMessage();
      if (!m.ok()) {
        if (m.status().code() != ErrorCode::kCancelled) result = m.status();
        break;
      }
      Status s = co_await Handle(*m);
      if (!s.ok()) {
        result = s;
        break;
      }
    }
    // Stop the rings; let requests already taken finish into the used ring.
    // This must run to the end even when we were cancelled (shutdown): the
    // requests still running refer to this connection.
    co_await asio::this_coro::reset_cancellation_state();
    co_await asio::this_coro::throw_if_cancelled(false);
    for (size_t i = 0; i < rings_.size(); ++i) StopRing(i);
    for (auto& r : rings_) {
      while (r.in_progress > 0) {
        r.idle->Reset();
        co_await r.idle->Wait();
      }
    }
    co_await tasks_.Close();
    while (notifies_pending_ > 0) co_await asio::post(ex_, asio::use_awaitable);  // they use `this`
    co_return result;
  }

 private:
  struct Ring {
    uint16_t num = 0;
    VringAddr addr;
    bool addr_set = false;
    uint16_t base = 0;
    UniqueFd kick, call, err;
    bool enabled = false;
    bool started = false;
    bool broken = false;
    virtio::SplitQueue queue;
    std::unique_ptr<asio::posix::stream_descriptor> kick_wait;
    size_t in_progress = 0;
    bool notify_scheduled = false;
    uint64_t counter = 0;
    std::unique_ptr<Event> idle;
    // Per descriptor head: the guest ranges its chain lets us write, marked
    // in the dirty log when it completes (logging may start while it runs).
    std::vector<std::vector<std::pair<uint64_t, uint32_t>>> writable;
  };

  // ---- messages ----------------------------------------------------------
  Task<Result<Message>> ReadMessage() {
    Message m;
    uint8_t header[kHeaderSize];
    const int fd = socket_.native_handle();
    for (;;) {
      boost::system::error_code ec;
      co_await socket_.async_wait(asio::socket_base::wait_read,
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return Cancelled("vhost-user: connection closed");
      iovec iov{header, sizeof header};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 0) co_return ErrnoStatus(errno, "vhost-user: recvmsg");
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int received;
          std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          m.fds.emplace_back(received);
        }
      }
      if (n == 0) co_return Cancelled("vhost-user: connection closed");
      if (msg.msg_flags & MSG_CTRUNC)
        co_return InvalidArgument("vhost-user: too many fds in one message");
      if (n != static_cast<ssize_t>(sizeof header)) {
        co_return InvalidArgument("vhost-user: truncated header ({} bytes)", n);
      }
      break;
    }
    TG_CO_ASSIGN_OR_RETURN(m.header, ParseHeader(header));
    m.payload.resize(m.header.size);
    size_t got = 0;
    while (got < m.payload.size()) {
      ssize_t n = recv(fd, m.payload.data() + got, m.payload.size() - got, MSG_DONTWAIT);
      if (n > 0) {
        got += static_cast<size_t>(n);
        continue;
      }
      if (n == 0) co_return InvalidArgument("vhost-user: message {} truncated", m.header.request);
      if (errno != EAGAIN && errno != EINTR) co_return ErrnoStatus(errno, "vhost-user: recv");
      boost::system::error_code ec;
      co_await socket_.async_wait(asio::socket_base::wait_read,
                                  asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return Cancelled("vhost-user: connection closed");
    }
    co_return m;
  }

  Status Send(uint32_t request, std::span<const uint8_t> payload, int fd = -1) {
    auto bytes = EncodeReply(request, payload);
    iovec iov{bytes.data(), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    // Replies are small and the frontend waits for each: the socket buffer
    // always has room, so a blocking send cannot stall the loop.
    ssize_t n = sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(bytes.size()))
      return ErrnoStatus(errno, "vhost-user: send reply");
    return Status::Ok();
  }

  Result<Ring*> RingFor(uint32_t index) {
    if (index >= rings_.size())
      return InvalidArgument("vring index {} (device has {})", index, rings_.size());
    return &rings_[index];
  }

  uint64_t AllFeatures() const {
    return device_.Features() | virtio::kFVersion1 | virtio::kFRingIndirectDesc |
           virtio::kFRingEventIdx | kFeatureProtocolFeatures | kFeatureLogAll;
  }

  Task<Status> Handle(Message& m) {
    const auto& p = m.payload;
    bool replied = false;  // a message with its own reply needs no ack
    Status s;
    switch (m.header.request) {
      case kGetFeatures:
        s = Send(m.header.request, EncodeU64(AllFeatures()));
        replied = true;
        break;
      case kSetFeatures: {
        TG_CO_ASSIGN_OR_RETURN(uint64_t f, ParseU64(p));
        if (f & ~AllFeatures()) {
          s = InvalidArgument("frontend acked features {:#x} we do not offer", f & ~AllFeatures());
        }
        features_ = f;
        device_.SetFeatures(f);
        break;
      }
      case kGetProtocolFeatures:
        s = Send(m.header.request,
                 EncodeU64(kProtocolMq | kProtocolReplyAck | kProtocolLogShmfd |
                           (device_.ServesConfig() ? uint64_t{kProtocolConfig} : 0) |
                           (device_.TracksInflight() ? uint64_t{kProtocolInflightShmfd} : 0)));
        replied = true;
        break;
      case kSetProtocolFeatures: {
        TG_CO_ASSIGN_OR_RETURN(protocol_features_, ParseU64(p));
        break;
      }
      case kSetOwner:
      case kResetOwner:
      case kSetBackendReqFd:
      case kSetVringErr:
      case kResetDevice:
        if (m.header.request == kSetVringErr && !p.empty()) {
          TG_CO_ASSIGN_OR_RETURN(uint64_t v, ParseU64(p));
          TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(v & kVringIndexMask));
          if (!m.fds.empty()) r->err = std::move(m.fds[0]);
        }
        break;
      case kSetLogBase: {
        TG_CO_ASSIGN_OR_RETURN(LogArea area, ParseLogArea(p));
        if (m.fds.size() != 1) {
          s = InvalidArgument("SET_LOG_BASE with {} fds", m.fds.size());
          break;
        }
        TG_CO_ASSIGN_OR_RETURN(
            log_, virtio::DirtyLog::Map(m.fds[0].get(), area.mmap_offset, area.mmap_size));
        Log()->info("dirty log of {} KiB: logging guest writes for a migration",
                    area.mmap_size / 1024);
        // LOG_SHMFD: the frontend waits for this reply.
        s = Send(m.header.request, EncodeU64(0));
        replied = true;
        break;
      }
      case kSetLogFd:  // a notification fd: we never need to tell it anything
        break;
      case kGetQueueNum:
        s = Send(m.header.request, EncodeU64(device_.NumQueues()));
        replied = true;
        break;
      case kGetMaxMemSlots:
        s = Send(m.header.request, EncodeU64(kMaxFds));
        replied = true;
        break;
      case kSetMemTable:
        s = SetMemTable(m);
        break;
      case kSetVringNum: {
        TG_CO_ASSIGN_OR_RETURN(VringState st, ParseVringState(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(st.index));
        if (st.num == 0 || st.num > 32768 || (st.num & (st.num - 1))) {
          s = InvalidArgument("vring {} size {}", st.index, st.num);
          break;
        }
        // A running ring keeps the size it started with (QEMU stops a ring,
        // GET_VRING_BASE, before it resizes it): the inflight checks below
        // and at SET_INFLIGHT_FD rely on `num` being the running queue's size.
        if (r->started) {
          s = FailedPrecondition("vring {} resized while it runs", st.index);
          break;
        }
        s = CheckRingFitsInflight(st.index, st.num);
        if (s.ok()) r->num = static_cast<uint16_t>(st.num);
        break;
      }
      case kSetVringAddr: {
        TG_CO_ASSIGN_OR_RETURN(VringAddr a, ParseVringAddr(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(a.index));
        r->addr = a;
        r->addr_set = true;
        break;
      }
      case kSetVringBase: {
        TG_CO_ASSIGN_OR_RETURN(VringState st, ParseVringState(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(st.index));
        r->base = static_cast<uint16_t>(st.num);
        break;
      }
      case kGetVringBase: {
        TG_CO_ASSIGN_OR_RETURN(VringState st, ParseVringState(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(st.index));
        StopRing(st.index);
        while (r->in_progress > 0) {  // let taken chains finish first
          r->idle->Reset();
          co_await r->idle->Wait();
        }
        uint16_t last = r->started ? r->queue.last_avail_idx() : r->base;
        // The used ring's event index may have moved since the last
        // completion marked it: the destination must see it as we left it.
        if (r->started && (features_ & kFeatureLogAll) && log_.active() &&
            (r->addr.flags & kVringFlagLog))
          log_.Mark(r->addr.log, virtio::UsedRingBytes(r->num));
        r->started = false;
        r->kick.Reset();
        s = Send(m.header.request, EncodeVringState({st.index, last}));
        replied = true;
        break;
      }
      case kSetVringKick: {
        TG_CO_ASSIGN_OR_RETURN(uint64_t v, ParseU64(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(v & kVringIndexMask));
        if ((v & kVringNoFd) || m.fds.empty()) {
          s = Unimplemented("vring kick without an fd (polling) is not supported");
          break;
        }
        r->kick = std::move(m.fds[0]);
        s = StartRing(v & kVringIndexMask);
        break;
      }
      case kSetVringCall: {
        TG_CO_ASSIGN_OR_RETURN(uint64_t v, ParseU64(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(v & kVringIndexMask));
        if (!(v & kVringNoFd) && !m.fds.empty()) r->call = std::move(m.fds[0]);
        break;
      }
      case kSetVringEnable: {
        TG_CO_ASSIGN_OR_RETURN(VringState st, ParseVringState(p));
        TG_CO_ASSIGN_OR_RETURN(Ring * r, RingFor(st.index));
        r->enabled = st.num != 0;
        if (r->enabled && r->started && r->kick_wait)
          r->kick_wait->cancel();  // look at the ring now
        break;
      }
      case kGetConfig: {
        TG_CO_ASSIGN_OR_RETURN(ConfigAccess c, ParseConfig(p));
        auto config = device_.Config();
        std::fill(c.data.begin(), c.data.end(), 0);
        for (uint32_t i = 0; i < c.data.size() && c.offset + i < config.size(); ++i) {
          c.data[i] = config[c.offset + i];
        }
        s = Send(m.header.request, EncodeConfig(c));
        replied = true;
        break;
      }
      case kSetConfig: {
        TG_CO_ASSIGN_OR_RETURN(ConfigAccess c, ParseConfig(p));
        (void)c;  // the config space is read-only for us (writeback is fixed)
        break;
      }
      case kGetInflightFd:
        s = GetInflight(m);
        replied = s.ok();
        break;
      case kSetInflightFd:
        s = SetInflight(m);
        break;
      default:
        s = Unimplemented("vhost-user request {} is not supported", m.header.request);
    }
    const bool unsupported = s.code() == ErrorCode::kUnimplemented;
    if (unsupported) Log()->warn("{}", s);
    if (!replied && (m.header.flags & kFlagNeedReply) && (protocol_features_ & kProtocolReplyAck)) {
      if (Status ack = Send(m.header.request, EncodeU64(s.ok() ? 0 : 1)); !ack.ok()) co_return ack;
    }
    // Unsupported requests are refused and the connection stays; a malformed
    // one closes it.
    co_return unsupported ? Status::Ok() : s;
  }

  Status SetMemTable(Message& m) {
    TG_ASSIGN_OR_RETURN(auto regions, ParseMemTable(m.payload, m.fds.size()));
    auto mem = std::make_shared<virtio::GuestMemory>();
    for (size_t i = 0; i < regions.size(); ++i) {
      TG_RETURN_IF_ERROR(mem->AddMapped(regions[i], m.fds[i].get()));
    }
    // Running rings move to the new table, all or none: a ring left on the
    // old table would point into memory unmapped once its chains are done.
    std::vector<std::optional<virtio::SplitQueue>> moved(rings_.size());
    for (size_t i = 0; i < rings_.size(); ++i) {
      if (rings_[i].started) {
        TG_ASSIGN_OR_RETURN(moved[i], MapRing(i, *mem));
      }
    }
    // Chains in progress keep the old table alive through their shared_ptr.
    memory_ = std::move(mem);
    for (size_t i = 0; i < rings_.size(); ++i) {
      if (moved[i]) rings_[i].queue = *moved[i];
    }
    return Status::Ok();
  }

  Status GetInflight(Message& m) {
    TG_ASSIGN_OR_RETURN(InflightInfo info, ParseInflight(m.payload));
    TG_RETURN_IF_ERROR(CheckInflightFitsRings(info));
    // Sealed against resizing: the region comes back to the next backend
    // through SET_INFLIGHT_FD, and a sealed memfd is one that cannot shrink
    // under its mapping.
    UniqueFd fd(memfd_create("tiangong-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd.valid()) return ErrnoStatus(errno, "memfd_create");
    info.mmap_size = InflightQueueBytes(info.queue_size) * info.num_queues;
    info.mmap_offset = 0;
    if (ftruncate(fd.get(), static_cast<off_t>(info.mmap_size)) != 0)
      return ErrnoStatus(errno, "ftruncate");
    if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
      return ErrnoStatus(errno, "seal the inflight region");
    TG_RETURN_IF_ERROR(MapInflight(fd.get(), info));
    return Send(m.header.request, EncodeInflight(info), fd.get());
  }

  Status SetInflight(Message& m) {
    TG_ASSIGN_OR_RETURN(InflightInfo info, ParseInflight(m.payload));
    if (m.fds.size() != 1) return InvalidArgument("SET_INFLIGHT_FD with {} fds", m.fds.size());
    TG_RETURN_IF_ERROR(CheckInflightFitsRings(info));
    if (info.mmap_size < InflightQueueBytes(info.queue_size) * info.num_queues) {
      return InvalidArgument("inflight region of {} bytes for {} queues of {}", info.mmap_size,
                             info.num_queues, info.queue_size);
    }
    if (info.mmap_offset % 64 != 0)  // its entries are read in place
      return InvalidArgument("inflight region at offset {}, not 64-byte aligned", info.mmap_offset);
    return MapInflight(m.fds[0].get(), info);
  }

  // The region is indexed by queue and descriptor head: every ring it covers
  // must fit its queue size, whichever of SET_VRING_NUM and the inflight
  // message came first (here: the rings came first).
  Status CheckInflightFitsRings(const InflightInfo& info) const {
    if (info.num_queues == 0 || info.num_queues > rings_.size() || info.queue_size == 0 ||
        info.queue_size > 32768) {
      return InvalidArgument("inflight region for {} queues of {}", info.num_queues,
                             info.queue_size);
    }
    for (size_t i = 0; i < rings_.size(); ++i) {
      // Replacing the region under a running ring would lose its marks.
      if (rings_[i].started)
        return FailedPrecondition("inflight region set while vring {} runs", i);
      if (i < info.num_queues && rings_[i].num > info.queue_size) {
        return InvalidArgument("inflight region for queues of {} but vring {} has {} entries",
                               info.queue_size, i, rings_[i].num);
      }
    }
    return Status::Ok();
  }

  // The same check when SET_VRING_NUM comes after the inflight region.
  Status CheckRingFitsInflight(uint32_t index, uint32_t num) const {
    if (inflight_.mapped() && index < inflight_queues_ && num > inflight_queue_size_) {
      return InvalidArgument("vring {} of {} entries does not fit the inflight region's {}", index,
                             num, inflight_queue_size_);
    }
    return Status::Ok();
  }

  Status MapInflight(int fd, const InflightInfo& info) {
    inflight_ = {};
    TG_ASSIGN_OR_RETURN(inflight_, virtio::SharedMapping::Map(fd, info.mmap_offset, info.mmap_size,
                                                              "inflight region"));
    inflight_queue_size_ = info.queue_size;
    inflight_queues_ = info.num_queues;
    return Status::Ok();
  }

  // ---- rings --------------------------------------------------------------
  InflightHeader* InflightFor(size_t index) {
    if (!inflight_.mapped() || index >= inflight_queues_) return nullptr;
    return reinterpret_cast<InflightHeader*>(inflight_.data() +
                                             index * InflightQueueBytes(inflight_queue_size_));
  }
  InflightDesc* InflightDescs(InflightHeader* h) { return reinterpret_cast<InflightDesc*>(h + 1); }

  // The ring's queue over `mem`, resuming where the ring is.
  Result<virtio::SplitQueue> MapRing(size_t index, const virtio::GuestMemory& mem) const {
    const Ring& r = rings_[index];
    if (!r.addr_set || r.num == 0)
      return FailedPrecondition("vring {} started before its size/address", index);
    TG_ASSIGN_OR_RETURN(uint8_t * desc,
                        mem.FromFrontend(r.addr.desc, virtio::DescTableBytes(r.num)));
    TG_ASSIGN_OR_RETURN(uint8_t * avail,
                        mem.FromFrontend(r.addr.avail, virtio::AvailRingBytes(r.num)));
    TG_ASSIGN_OR_RETURN(uint8_t * used,
                        mem.FromFrontend(r.addr.used, virtio::UsedRingBytes(r.num)));
    const uint16_t last = r.started ? r.queue.last_avail_idx() : r.base;
    const uint16_t used_idx = r.started ? r.queue.used_idx() : r.base;
    TG_ASSIGN_OR_RETURN(
        virtio::SplitQueue queue,
        virtio::SplitQueue::Create(r.num, desc, avail, used, features_ & virtio::kFRingEventIdx));
    queue.SetIndices(last, used_idx);
    return queue;
  }

  Status StartRing(size_t index) {
    Ring& r = rings_[index];
    StopRing(index);
    r.started = false;
    if (!memory_) return FailedPrecondition("vring {} started before the memory table", index);
    TG_ASSIGN_OR_RETURN(r.queue, MapRing(index, *memory_));
    r.started = true;
    r.broken = false;
    r.writable.resize(r.num);
    if (!(features_ & kFeatureProtocolFeatures)) r.enabled = true;  // no SET_VRING_ENABLE then
    if (!r.idle) r.idle = std::make_unique<Event>(ex_);
    int dup = ::dup(r.kick.get());
    if (dup < 0) return ErrnoStatus(errno, "dup kick fd");
    auto kick_wait = std::make_unique<asio::posix::stream_descriptor>(ex_);
    boost::system::error_code ec;
    kick_wait->assign(dup, ec);  // a file epoll cannot wait on is refused here
    if (ec) {
      ::close(dup);
      return InvalidArgument("vring {} kick fd cannot be waited on: {}", index, ec.message());
    }
    r.kick_wait = std::move(kick_wait);
    std::vector<uint16_t> resubmit = RecoverInflight(index);
    if (!tasks_.Spawn("vring", RunRing(index, std::move(resubmit))))
      return Cancelled("vring {} started while the connection closes", index);
    return Status::Ok();
  }

  void StopRing(size_t index) {
    Ring& r = rings_[index];
    device_.Stop(static_cast<uint16_t>(index));
    if (r.kick_wait) {
      boost::system::error_code ec;
      r.kick_wait->close(ec);  // the runner's wait ends, and with it the runner
      r.kick_wait.reset();
    }
  }

  // After a backend restart: chains the previous backend took but never
  // returned are in the inflight region. Returns them in submission order,
  // and sets the ring indices so that they are not taken twice.
  std::vector<uint16_t> RecoverInflight(size_t index) {
    Ring& r = rings_[index];
    InflightHeader* h = InflightFor(index);
    if (!h) return {};
    InflightDesc* d = InflightDescs(h);
    if (h->version == 0 || h->desc_num != r.num) {
      std::memset(d, 0, sizeof(InflightDesc) * r.num);
      h->version = 1;
      h->desc_num = r.num;
      h->used_idx = r.queue.used_idx();
      return {};
    }
    // The used index in the ring is the truth. If it is ahead of ours, the
    // last batch was returned but not yet cleared: clear it now.
    const uint16_t ring_used = r.queue.UsedIdxInRing();
    if (h->used_idx != ring_used && h->last_batch_head < r.num) {
      d[h->last_batch_head].inflight = 0;
      h->used_idx = ring_used;
    }
    std::vector<std::pair<uint64_t, uint16_t>> pending;
    for (uint16_t i = 0; i < r.num; ++i) {
      if (d[i].inflight) pending.emplace_back(d[i].counter, i);
    }
    std::sort(pending.begin(), pending.end());
    std::vector<uint16_t> heads;
    for (auto& [counter, head] : pending) heads.push_back(head);
    r.counter = pending.empty() ? 0 : pending.back().first;
    r.queue.SetIndices(static_cast<uint16_t>(ring_used + heads.size()), ring_used);
    if (!heads.empty()) {
      Log()->info("vring {}: resubmitting {} requests left in flight by the previous backend",
                  index, heads.size());
    }
    return heads;
  }

  Task<void> RunRing(size_t index, std::vector<uint16_t> resubmit) {
    Ring& r = rings_[index];
    for (uint16_t head : resubmit) {
      auto again = r.queue.Walk(*memory_, head);
      if (!again.ok()) {
        Break(index, again.status());
        co_return;
      }
      Begin(index, std::move(*again), /*record=*/false);
    }
    asio::posix::stream_descriptor* kick = r.kick_wait.get();
    for (;;) {
      if (r.enabled && !r.broken) Drain(index);
      // Poll before sleeping: a busy guest adds the next request within
      // microseconds, and waking from epoll on the kick costs more than
      // looking. Each look first yields, so completions keep flowing.
      if (co_await PollForWork(index, kick)) continue;
      if (r.kick_wait.get() != kick) co_return;
      boost::system::error_code ec;
      co_await kick->async_wait(asio::posix::descriptor::wait_read,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted && r.kick_wait.get() == kick)
        continue;  // enable poke
      if (ec) co_return;
      uint64_t count;
      const ssize_t n = ::read(kick->native_handle(), &count, sizeof count);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        // Not an eventfd (a pipe whose writer left): it would wake us forever.
        Break(index, InvalidArgument("the kick fd cannot be read (read returned {})", n));
        co_return;
      }
    }
  }

  static constexpr auto kPollWindow = std::chrono::microseconds(50);
  static constexpr size_t kPollMaxInProgress = 4;

  // True if the ring has new buffers within the poll window.
  Task<bool> PollForWork(size_t index, asio::posix::stream_descriptor* kick) {
    Ring& r = rings_[index];
    const auto until = std::chrono::steady_clock::now() + kPollWindow;
    while (std::chrono::steady_clock::now() < until) {
      co_await asio::post(ex_, asio::use_awaitable);
      if (r.kick_wait.get() != kick) co_return false;  // the ring was stopped
      // A ring with many requests in flight is kept busy by their
      // completions; polling then only steals time from them.
      if (r.in_progress > kPollMaxInProgress) co_return false;
      if (r.enabled && !r.broken && r.queue.AvailIdx() != r.queue.last_avail_idx()) co_return true;
    }
    co_return false;
  }

  void Drain(size_t index) {
    Ring& r = rings_[index];
    for (;;) {
      auto chain = r.queue.Pop(*memory_);
      if (!chain.ok()) {
        Break(index, chain.status());
        return;
      }
      if (!*chain) return;
      Begin(index, std::move(**chain), /*record=*/true);
    }
  }

  void Break(size_t index, const Status& why) {
    Ring& r = rings_[index];
    r.broken = true;
    Log()->error("vring {} is broken and stops: {}", index, why);
    if (r.err.valid()) {
      uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(r.err.get(), &one, sizeof one);
    }
  }

  void Begin(size_t index, virtio::Chain chain, bool record) {
    Ring& r = rings_[index];
    if (InflightHeader* h = InflightFor(index); h && record) {
      InflightDesc& d = InflightDescs(h)[chain.head];
      d.counter = ++r.counter;
      d.inflight = 1;
    }
    if (chain.head < r.writable.size()) {
      auto& ranges = r.writable[chain.head];
      ranges.clear();
      if (chain.writable_bytes > 0) {
        for (const auto& b : chain.buffers)
          if (b.writable) ranges.emplace_back(b.gpa, b.len);
      }
    }
    ++r.in_progress;
    if (uint32_t written = 0; device_.ProcessNow(static_cast<uint16_t>(index), chain, &written)) {
      Complete(index, chain.head, written);
      return;
    }
    // Not through tasks_: in_progress already tracks these (Run waits for
    // every ring to drain), and a TaskGroup entry per request costs a list
    // node and a cancellation signal on the hot path. The device's coroutine
    // is spawned directly, with the completion as its handler: one frame per
    // request, not two.
    const uint16_t head = chain.head;
    asio::co_spawn(ex_, device_.Process(static_cast<uint16_t>(index), std::move(chain)),
                   [this, index, head, keep = memory_](std::exception_ptr, uint32_t written) {
                     // `keep`: the chain's buffers pointed into this memory table.
                     Complete(index, head, written);
                   });
  }

  void Complete(size_t index, uint16_t head, uint32_t written) {
    Ring& r = rings_[index];
    if (r.started && !r.broken) {
      InflightHeader* h = InflightFor(index);
      if (h) h->last_batch_head = head;
      const bool logging = (features_ & kFeatureLogAll) && log_.active();
      if (logging && head < r.writable.size()) {
        // After the device's writes, before the driver may see them used.
        for (const auto& [gpa, len] : r.writable[head]) log_.Mark(gpa, len);
      }
      r.queue.Push(head, written);
      if (logging && (r.addr.flags & kVringFlagLog))
        log_.Mark(r.addr.log, virtio::UsedRingBytes(r.num));
      if (h) {
        InflightDescs(h)[head].inflight = 0;
        h->used_idx = r.queue.used_idx();
      }
      // One interrupt for all the chains that complete in this turn of the loop.
      if (!r.notify_scheduled) {
        // A plain handler, not a task: this runs once per turn per ring,
        // and a coroutine with its bookkeeping showed in profiles.
        r.notify_scheduled = true;
        ++notifies_pending_;
        asio::post(ex_, [this, index] {
          --notifies_pending_;
          Notify(index);
        });
      }
    }
    if (--r.in_progress == 0 && r.idle) r.idle->Set();
  }

  void Notify(size_t index) {
    Ring& r = rings_[index];
    r.notify_scheduled = false;
    if (r.started && r.queue.NeedsNotify() && r.call.valid()) {
      uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(r.call.get(), &one, sizeof one);
    }
  }

  Executor ex_;
  Device& device_;
  asio::local::stream_protocol::socket socket_;
  TaskGroup tasks_;
  size_t notifies_pending_ = 0;
  std::vector<Ring> rings_;
  std::shared_ptr<virtio::GuestMemory> memory_;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  virtio::SharedMapping inflight_;
  virtio::DirtyLog log_;
  uint16_t inflight_queue_size_ = 0;
  uint16_t inflight_queues_ = 0;
};

Task<Status> ServeConnection(Executor ex, Device& device,
                             asio::local::stream_protocol::socket socket) {
  Connection c(ex, device, std::move(socket));
  co_return co_await c.Run();
}

Server::Server(Executor ex, Device& device, std::string path)
    : ex_(ex), device_(device), path_(std::move(path)) {}

Server::~Server() {
  ::unlink(path_.c_str());
}

Status Server::Listen() {
  // One frontend at a time: a backlog of one.
  TG_ASSIGN_OR_RETURN(acceptor_, ListenUnix(ex_, "vhost-user", path_, 1));
  return Status::Ok();
}

Task<void> Server::Run() {
  while (!stopping_) {
    boost::system::error_code ec;
    auto socket = co_await acceptor_->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    Log()->info("frontend connected socket={}", path_);
    Connection c(ex_, device_, std::move(socket));
    active_ = &c;
    Status s = co_await c.Run();
    active_ = nullptr;
    if (s.ok()) {
      Log()->info("frontend disconnected socket={}", path_);
    } else {
      Log()->warn("frontend connection closed socket={}: {}", path_, s);
    }
  }
}

Task<void> Server::Stop() {
  stopping_ = true;
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  if (active_) active_->Close();
  co_return;
}

}  // namespace tg::vhost
