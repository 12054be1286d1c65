#include "compute/agent/console_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "compute/qemu/qemu_command.h"

namespace tg::compute {

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

void TrimConsoleLog(const std::string& run_dir, uint64_t limit) {
  const std::string log = ConsoleLogPath(run_dir);
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(log, ec);
  if (ec || size <= limit) return;
  const std::string old = log + ".1";
  {
    std::ofstream out(old + ".new", std::ios::binary | std::ios::trunc);
    out << ReadAll(log);
    if (!out) return;
  }
  std::filesystem::rename(old + ".new", old, ec);
  if (ec) return;
  (void)::truncate(log.c_str(), 0);
}

std::string ReadConsoleTail(const std::string& run_dir, uint64_t max) {
  const std::string log = ConsoleLogPath(run_dir);
  std::string text = ReadAll(log + ".1") + ReadAll(log);
  if (text.size() > max) text.erase(0, text.size() - max);
  return text;
}

}  // namespace tg::compute
