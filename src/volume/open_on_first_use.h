// A volume opened only when its first request comes: the disk of a live
// migration's destination. Its QEMU connects and reads the disk's size at
// once, but may not touch the data until the migration has switched over
// (the source stops first, its last requests done); and opening a
// distributed volume is what fences its previous writer. So the guest's
// first request opens it, and every request waits for that one open.
#pragma once

#include <functional>
#include <memory>

#include "volume/volume.h"

namespace tg::volume {

using VolumeOpener = std::function<Task<Result<std::unique_ptr<Volume>>>()>;

// `size` and `block_size`: what the volume will have (checked when it opens).
// A failed open fails that request; the next one tries again.
std::unique_ptr<Volume> OpenOnFirstUse(Executor ex, uint64_t size, uint32_t block_size,
                                       VolumeOpener opener);

}  // namespace tg::volume
