#include "base/config.h"

#include <charconv>

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

Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return InvalidArgument("'{}': expected HOST:PORT", text);
  unsigned port = 0;
  auto digits = text.substr(colon + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || p != digits.data() + digits.size() || port > 65535) {
    return InvalidArgument("'{}': bad port", text);
  }
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(port));
}

Result<uint64_t> ParseSize(std::string_view text) {
  uint64_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p == text.data()) return InvalidArgument("bad size '{}'", text);
  std::string_view unit(p, text.data() + text.size() - p);
  uint64_t scale = 1;
  if (unit == "K" || unit == "k")
    scale = 1ull << 10;
  else if (unit == "M")
    scale = 1ull << 20;
  else if (unit == "G")
    scale = 1ull << 30;
  else if (unit == "T")
    scale = 1ull << 40;
  else if (!unit.empty())
    return InvalidArgument("bad size unit in '{}' (K, M, G, T)", text);
  if (value > UINT64_MAX / scale) return InvalidArgument("size '{}' is too large", text);
  return value * scale;
}

}  // namespace tg
