#include "base/config.h"

#include "base/log.h"

namespace tg {

void AddCommonFlags(CLI::App& app, CommonFlags& flags) {
  app.set_config("--config", "", "Read flags from this TOML/INI file (command-line flags win)");
  app.add_option("--log-level", flags.log_level, "Log level: trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.add_option("--log-format", flags.log_format, "Log line format: text or json")
      ->capture_default_str();
}

Status ApplyCommonFlags(const CommonFlags& flags) {
  return log::Configure(flags.log_level, flags.log_format);
}

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view part = list.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

}  // namespace tg
