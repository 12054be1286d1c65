#include "virtio/shared_mapping.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <utility>

namespace tg::virtio {

namespace {

// The guarded mappings, readable from a signal handler: plain atomics in a
// fixed table (a handler may not lock or allocate). Each slot is written by
// Guard/Unguard under the mutex; `begin` is published last and cleared first.
struct GuardSlot {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<size_t> page{0};
  bool taken = false;  // under g_guard_mutex
};
constexpr size_t kGuardSlots = 4096;  // guest memory regions and inflight regions in one process
GuardSlot g_guard_slots[kGuardSlots];
std::atomic<uint64_t> g_faults_caught{0};
std::mutex g_guard_mutex;
bool g_handler_installed = false;  // under g_guard_mutex
struct sigaction g_previous_handler;

void OnSigbus(int signal, siginfo_t* info, void* context) {
  const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
  // BUS_ADRERR: an access to a page the file no longer has.
  if (info->si_code == BUS_ADRERR) {
    for (auto& slot : g_guard_slots) {
      const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
      if (begin == 0 || address < begin || address >= slot.end.load(std::memory_order_relaxed))
        continue;
      const size_t page = slot.page.load(std::memory_order_relaxed);
      void* lost = reinterpret_cast<void*>(address / page * page);
      if (mmap(lost, page, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
               0) != MAP_FAILED) {
        g_faults_caught.fetch_add(1, std::memory_order_relaxed);
        return;  // the access is retried, on the zero page
      }
      break;
    }
  }
  // Not ours: the previous handler takes it, called directly so that ours
  // stays installed for the guarded mappings' next faults.
  const struct sigaction& previous = g_previous_handler;
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(signal, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal);
    return;
  }
  if (previous.sa_handler == SIG_IGN && info->si_code <= 0) return;  // a sent signal, ignored
  // The default action: the process dies of it. A fault recurs as soon as we
  // return; a sent signal must be raised again.
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  sigaction(SIGBUS, &fallback, nullptr);
  if (info->si_code <= 0) raise(signal);
}

// The page size of the file's mapping: a huge page on hugetlbfs.
size_t MappingPageSize(int fd) {
  struct statfs fs;
  if (fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC && fs.f_bsize > 0)
    return static_cast<size_t>(fs.f_bsize);
  return static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

Result<int> Guard(uintptr_t begin, size_t length, size_t page) {
  std::lock_guard lock(g_guard_mutex);
  if (!g_handler_installed) {
    struct sigaction action {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &g_previous_handler) != 0)
      return ErrnoStatus(errno, "install the SIGBUS guard");
    g_handler_installed = true;
  }
  for (size_t i = 0; i < kGuardSlots; ++i) {
    GuardSlot& slot = g_guard_slots[i];
    if (slot.taken) continue;
    slot.taken = true;
    slot.page.store(page, std::memory_order_relaxed);
    slot.end.store(begin + (length + page - 1) / page * page, std::memory_order_relaxed);
    slot.begin.store(begin, std::memory_order_release);
    return static_cast<int>(i);
  }
  return ResourceExhausted("more than {} shared mappings that could shrink", kGuardSlots);
}

void Unguard(int index) {
  std::lock_guard lock(g_guard_mutex);
  GuardSlot& slot = g_guard_slots[index];
  slot.begin.store(0, std::memory_order_release);
  slot.taken = false;
}

// Whether the file can never shrink: a memfd sealed against it. F_GET_SEALS
// fails for files that cannot be sealed at all (most file systems).
bool SealedAgainstShrinking(int fd) {
  const int seals = fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & F_SEAL_SHRINK);
}

}  // namespace

Result<SharedMapping> SharedMapping::Map(int fd, uint64_t offset, uint64_t size,
                                         std::string_view what) {
  if (size == 0) return InvalidArgument("{} of size 0", what);
  constexpr auto kMaxFileOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  if (offset > kMaxFileOffset || size > kMaxFileOffset - offset)
    return InvalidArgument("{}: offset {} + size {} overflows a file offset", what, offset, size);
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, fmt::format("{}: fstat", what));
  if (!S_ISREG(st.st_mode)) return InvalidArgument("{}: the fd is not a regular file", what);
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (offset + size > file_size) {
    return InvalidArgument("{}: [{}, {}) goes past the end of its {}-byte file", what, offset,
                           offset + size, file_size);
  }
  const size_t page = MappingPageSize(fd);
  const uint64_t aligned_offset = offset / page * page;  // mmap wants a page-aligned offset
  // Whole pages: munmap of a huge-page mapping fails on any other length.
  const size_t length = (size + (offset - aligned_offset) + page - 1) / page * page;
  void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                    static_cast<off_t>(aligned_offset));
  if (base == MAP_FAILED) return ErrnoStatus(errno, fmt::format("mmap {}", what));
  SharedMapping m;
  m.base_ = base;
  m.length_ = length;
  m.data_ = static_cast<uint8_t*>(base) + (offset - aligned_offset);
  m.size_ = size;
  if (!SealedAgainstShrinking(fd)) {
    TG_ASSIGN_OR_RETURN(m.guard_slot_, Guard(reinterpret_cast<uintptr_t>(base), length, page));
  }
  return m;
}

SharedMapping::SharedMapping(SharedMapping&& other) noexcept {
  *this = std::move(other);
}

SharedMapping& SharedMapping::operator=(SharedMapping&& other) noexcept {
  if (this != &other) {
    Reset();
    base_ = std::exchange(other.base_, nullptr);
    length_ = std::exchange(other.length_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    guard_slot_ = std::exchange(other.guard_slot_, -1);
  }
  return *this;
}

SharedMapping::~SharedMapping() {
  Reset();
}

void SharedMapping::Reset() {
  if (guard_slot_ >= 0) Unguard(std::exchange(guard_slot_, -1));  // before the pages go
  if (base_) munmap(std::exchange(base_, nullptr), length_);
  data_ = nullptr;
  size_ = 0;
  length_ = 0;
}

uint64_t SharedMapping::FaultsCaught() {
  return g_faults_caught.load(std::memory_order_relaxed);
}

}  // namespace tg::virtio
