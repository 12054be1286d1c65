#include "compute/model/image.h"

#include "compute/model/names.h"

namespace tg::compute {

std::string_view ImageStatusName(ImageStatus s) {
  switch (s) {
    case ImageStatus::kCreating:
      return "Creating";
    case ImageStatus::kAvailable:
      return "Available";
    case ImageStatus::kCreateFailed:
      return "CreateFailed";
  }
  return "Unknown";
}

Result<ImageStatus> ParseImageStatus(std::string_view name) {
  for (ImageStatus s :
       {ImageStatus::kCreating, ImageStatus::kAvailable, ImageStatus::kCreateFailed})
    if (name == ImageStatusName(s)) return s;
  return InvalidArgument("unknown image status '{}'", name);
}

Status ValidateImageName(std::string_view name) {
  return ValidateName("image name", name, /*chinese=*/true);
}

}  // namespace tg::compute
