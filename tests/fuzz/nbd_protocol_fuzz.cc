// libFuzzer target: the NBD protocol parsers (src/nbd/protocol.*) over a
// client's byte stream, read as the server reads it: the client flags, then
// options (NBD_OPT_INFO, NBD_OPT_GO, ...) until one starts transmission,
// then requests, with a write's payload skipped. A request CheckRequest
// accepts must lie inside the export; replies have their fixed sizes.
//
// Input: see recipe.h. The template is a whole session (options, then a
// read, flush, trim, write-zeroes, cache, write and disconnect); flag 1
// writes the magic numbers in after the bytes, flag 2 cuts the stream where
// the bytes end; the choice byte's low bit makes the export read-only.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "nbd/protocol.h"
#include "recipe.h"

namespace tg::nbd {
namespace {

constexpr uint64_t kExportSize = 1 << 20;

void Option(std::vector<uint8_t>& s, uint32_t option, std::span<const uint8_t> data) {
  PutU64(s, kOptionMagic);
  PutU32(s, option);
  PutU32(s, static_cast<uint32_t>(data.size()));
  s.insert(s.end(), data.begin(), data.end());
}

std::vector<uint8_t> GoPayload(std::string_view name, std::initializer_list<uint16_t> infos) {
  std::vector<uint8_t> d;
  PutU32(d, static_cast<uint32_t>(name.size()));
  d.insert(d.end(), name.begin(), name.end());
  PutU16(d, static_cast<uint16_t>(infos.size()));
  for (uint16_t i : infos) PutU16(d, i);
  return d;
}

void Command(std::vector<uint8_t>& s, uint16_t flags, uint16_t type, uint64_t offset,
             uint32_t length, size_t payload = 0) {
  PutU32(s, kRequestMagic);
  PutU16(s, flags);
  PutU16(s, type);
  PutU64(s, 0x1000 + s.size());  // handle
  PutU64(s, offset);
  PutU32(s, length);
  s.resize(s.size() + payload, 0xab);
}

std::vector<std::vector<uint8_t>> Templates() {
  std::vector<uint8_t> s;
  PutU32(s, kClientFixedNewstyle | kClientNoZeroes);
  Option(s, kOptStructuredReply, {});
  Option(s, kOptList, {});
  Option(s, kOptInfo, GoPayload("disk", {kInfoExport, kInfoBlockSize}));
  Option(s, kOptGo, GoPayload("disk", {kInfoName, kInfoDescription, kInfoBlockSize}));
  Command(s, 0, kCmdRead, 0, 4096);
  Command(s, 0, kCmdFlush, 0, 0);
  Command(s, 0, kCmdTrim, 8192, 4096);
  Command(s, kCmdFlagNoHole, kCmdWriteZeroes, kExportSize - 512, 512);
  Command(s, 0, kCmdCache, 0, 65536);
  Command(s, kCmdFlagFua, kCmdWrite, 4096, 512, 512);
  Command(s, 0, kCmdDisconnect, 0, 0);
  return {{}, s};
}

// Reads the stream; `stamp`: the magic numbers are written in first.
class Session {
 public:
  Session(std::vector<uint8_t> stream, bool stamp, bool read_only)
      : s_(std::move(stream)), stamp_(stamp), read_only_(read_only) {}

  void Run() {
    if (!Take(4)) return;
    if (Options()) Transmission();
  }

 private:
  const uint8_t* Take(size_t n) {
    if (s_.size() - at_ < n) return nullptr;
    at_ += n;
    return s_.data() + at_ - n;
  }
  void Stamp(size_t n, uint64_t magic, size_t bytes) {
    if (!stamp_ || s_.size() - at_ < n) return;
    for (size_t i = 0; i < bytes; ++i)
      s_[at_ + i] = static_cast<uint8_t>(magic >> (8 * (bytes - 1 - i)));
  }

  // True when an option started transmission.
  bool Options() {
    for (int n = 0; n < 64; ++n) {
      Stamp(kOptionHeaderSize, kOptionMagic, 8);
      const uint8_t* header = Take(kOptionHeaderSize);
      if (!header) return false;
      auto h = ParseOptionHeader({header, kOptionHeaderSize});
      if (!h.ok()) return false;
      const uint8_t* data = Take(h->length);
      if (!data) return false;
      Reply(OptionReplyBytes(h->option, kRepAck, {data, std::min<size_t>(h->length, 64)}),
            20 + std::min<size_t>(h->length, 64));
      switch (h->option) {
        case kOptExportName:
          return true;
        case kOptAbort:
          return false;
        case kOptInfo:
        case kOptGo: {
          auto go = ParseGoRequest({data, h->length});
          if (go.ok() && go->name.size() + 2 * go->infos.size() + 6 != h->length)
            __builtin_trap();  // what was parsed is not what was sent
          if (go.ok() && h->option == kOptGo) return true;
          break;
        }
      }
    }
    return false;
  }

  void Transmission() {
    for (int n = 0; n < 256; ++n) {
      Stamp(kRequestSize, kRequestMagic, 4);
      const uint8_t* bytes = Take(kRequestSize);
      if (!bytes) return;
      auto r = ParseRequest({bytes, kRequestSize});
      if (!r.ok()) return;
      if (r->type == kCmdWrite) {
        if (r->length > kMaxPayload || !Take(r->length)) return;  // the server disconnects
      }
      if (r->type == kCmdDisconnect) return;
      const uint32_t error = CheckRequest(*r, kExportSize, read_only_);
      if (error == 0 && r->type != kCmdFlush &&
          (r->offset > kExportSize || r->length > kExportSize - r->offset))
        __builtin_trap();  // accepted outside the export
      if (error == 0 && read_only_ && r->type == kCmdWrite) __builtin_trap();
      Reply(SimpleReplyBytes(error, r->handle), kSimpleReplySize);
    }
  }

  static void Reply(const std::vector<uint8_t>& bytes, size_t expected) {
    if (bytes.size() != expected) __builtin_trap();
  }

  std::vector<uint8_t> s_;
  size_t at_ = 0;
  const bool stamp_, read_only_;
};

}  // namespace
}  // namespace tg::nbd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::vector<uint8_t>> templates = tg::nbd::Templates();
  const tg::fuzz::Recipe recipe = tg::fuzz::ReadRecipe(data, size);
  const auto& templ = tg::fuzz::Choose(templates, recipe);
  // The offset in 2-byte steps: the whole template is in reach.
  tg::nbd::Session session(
      tg::fuzz::Overlay(templ, recipe.offset * 2u, recipe.bytes, recipe.flags & 2),
      recipe.flags & 1, recipe.choice & 1);
  session.Run();
  return 0;
}
