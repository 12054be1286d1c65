#include "network/vswitch/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "base/unique_fd.h"

namespace tg::network {

namespace {
Status SyncDirectory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync " + dir);
  return Status::Ok();
}
}  // namespace

Status WriteStateFile(const std::string& path, std::string_view text) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "make " + dir);
  const std::string tmp = path + ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus(errno, "create " + tmp);
    for (size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, "write " + tmp);
      done += static_cast<size_t>(n);
    }
    // The data before the name: a rename that lands first would point at
    // an empty file after a power cut.
    if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus(errno, "rename to " + path);
  return SyncDirectory(dir);
}

}  // namespace tg::network
