// The vSwitch's saved state on disk: written so that a crash or a power
// cut leaves the old file or the new one, whole (a temporary file, synced,
// renamed over the old one, the directory synced), never a torn one.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace tg::network {

// Replaces `path` with `text` durably, making its directory if missing.
Status WriteStateFile(const std::string& path, std::string_view text);

}  // namespace tg::network
