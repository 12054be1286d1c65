// libFuzzer target: every vhost-user message parser on frontend-controlled
// bytes. Each must return a value or an error, never crash.
#include <cstddef>
#include <cstdint>

#include "vhost/message.h"

using namespace tg::vhost;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  if (size >= kHeaderSize) {
    auto h = ParseHeader(in.first(kHeaderSize));
    auto payload = in.subspan(kHeaderSize);
    if (h.ok() && payload.size() >= h->size) payload = payload.first(h->size);
    const size_t fds = size ? data[0] % 10 : 0;
    (void)ParseU64(payload);
    (void)ParseVringState(payload);
    (void)ParseVringAddr(payload);
    (void)ParseMemTable(payload, fds);
    (void)ParseConfig(payload);
    (void)ParseInflight(payload);
  }
  return 0;
}
