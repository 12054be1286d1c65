// The `tiangong node` flags that spell a structure in one word: --volume and
// --vhost-blk.
#pragma once

#include <string_view>

#include "host/node.h"

namespace tg::cli {

// "NAME=memory:SIZE", "NAME=file:PATH[:SIZE]" (SIZE like 64M, 1G, 4096), or
// "NAME=ebs[:VOLUME]": a distributed volume (default VOLUME: NAME).
Result<host::VolumeSpec> ParseVolumeFlag(std::string_view text);
// "NAME=SOCKET": serve volume NAME to a guest as vhost-user-blk on SOCKET.
Result<host::VhostBlkExport> ParseVhostBlkFlag(std::string_view text);

}  // namespace tg::cli
