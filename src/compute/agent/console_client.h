// The interactive serial console of an instance, for an operator at a
// terminal (`tiangong instance console`): the terminal is joined to the
// console socket of the instance's QEMU on this host until the operator
// types Ctrl-] (or the guest's QEMU goes). QEMU serves one client at a
// time; a second waits until the first leaves.
#pragma once

#include <string>

#include "base/status.h"

namespace tg::compute {

inline constexpr char kConsoleEscape = 0x1d;  // Ctrl-]

// Joins `in_fd`/`out_fd` (a terminal: put in raw mode while joined) to the
// console socket under `run_dir`. Returns when the escape is typed, input
// ends, or the console closes.
Status JoinConsole(const std::string& run_dir, int in_fd, int out_fd);

}  // namespace tg::compute
