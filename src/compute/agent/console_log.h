// An instance's serial console log, kept by its host and bounded: QEMU
// appends everything the guest prints to <run_dir>/console.log (also with
// no client connected); the agent trims it, and readers get its last part
// (`tiangong instance console-log`, and GetInstanceConsoleOutput later).
#pragma once

#include <cstdint>
#include <string>

namespace tg::compute {

inline constexpr uint64_t kConsoleLogLimit = 1 << 20;  // what a reader can get

// Once console.log has grown past `limit`, its contents replace
// console.log.1 and console.log is emptied in place (QEMU appends, so its
// next write lands at the new end). At most 2 x `limit` is kept on disk.
// Bytes written between the copy and the truncate are lost: a few at most.
void TrimConsoleLog(const std::string& run_dir, uint64_t limit = kConsoleLogLimit);

// The last `max` bytes the guest printed (console.log.1, then console.log).
std::string ReadConsoleTail(const std::string& run_dir, uint64_t max = kConsoleLogLimit);

}  // namespace tg::compute
