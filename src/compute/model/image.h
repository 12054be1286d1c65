// Images: what an instance's system disk is cloned from. An image is a
// snapshot of a distributed volume (the imported disk), named by an id in
// Alibaba's shape ("m-" and 20 random characters).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tg::compute {

inline constexpr std::string_view kImageIdPrefix = "m";

// Alibaba's image statuses (the ones an import passes through).
enum class ImageStatus { kCreating, kAvailable, kCreateFailed };
std::string_view ImageStatusName(ImageStatus s);  // "Creating", "Available", "CreateFailed"
Result<ImageStatus> ParseImageStatus(std::string_view name);

struct Image {
  std::string id;    // m-...
  std::string name;  // 2-128 characters, starts with a letter; unique
  std::string description;
  std::string os_type = "linux";        // linux | windows
  std::string platform;                 // "Debian", "Ubuntu", ... (free text)
  std::string os_name;                  // "Debian 12 64-bit" (free text)
  std::string architecture = "x86_64";  // x86_64 | arm64
  uint64_t size = 0;                    // bytes: the disk's virtual size
  ImageStatus status = ImageStatus::kCreating;
  std::string status_reason;  // why it failed
  std::string snapshot;       // the storage snapshot that backs it
  int64_t created_at = 0;     // unix seconds
};

Status ValidateImageName(std::string_view name);

}  // namespace tg::compute
