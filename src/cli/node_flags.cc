#include "cli/node_flags.h"

#include "base/config.h"

namespace tg::cli {

using host::VolumeSpec;

Result<VolumeSpec> ParseVolumeFlag(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == 0 || eq == std::string_view::npos) {
    return InvalidArgument(
        "--volume '{}': expected NAME=memory:SIZE, NAME=file:PATH[:SIZE] or NAME=ebs[:VOLUME]",
        text);
  }
  VolumeSpec v{.name = std::string(text.substr(0, eq))};
  std::string_view rest = text.substr(eq + 1);
  size_t colon = rest.find(':');
  const std::string_view kind = rest.substr(0, colon);
  std::string_view args = colon == std::string_view::npos ? "" : rest.substr(colon + 1);
  if (kind == "memory") {
    v.kind = VolumeSpec::Kind::kMemory;
    TG_ASSIGN_OR_RETURN(v.size, ParseSize(args));
  } else if (kind == "file") {
    v.kind = VolumeSpec::Kind::kFile;
    size_t last = args.rfind(':');
    v.path = std::string(args.substr(0, last));
    if (last != std::string_view::npos) {
      TG_ASSIGN_OR_RETURN(v.size, ParseSize(args.substr(last + 1)));
    }
    if (v.path.empty()) return InvalidArgument("--volume '{}': a file volume needs a path", text);
  } else if (kind == "ebs") {
    v.kind = VolumeSpec::Kind::kDistributed;
    v.path = args.empty() ? v.name : std::string(args);
  } else {
    return InvalidArgument("--volume '{}': unknown kind '{}' (memory, file or ebs)", text, kind);
  }
  return v;
}

Result<host::VhostBlkExport> ParseVhostBlkFlag(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == 0 || eq == std::string_view::npos || eq + 1 >= text.size()) {
    return InvalidArgument("--vhost-blk '{}': expected NAME=SOCKET with NAME a --volume", text);
  }
  return host::VhostBlkExport{.volume = std::string(text.substr(0, eq)),
                              .socket = std::string(text.substr(eq + 1))};
}

}  // namespace tg::cli
