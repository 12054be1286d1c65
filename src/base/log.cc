#include "base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace tg::log {
namespace {

// Writes the message as the body of a JSON string: quotes, backslashes and
// control characters escaped, so any message keeps the line valid JSON.
class JsonEscapedMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<int>(c));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

struct Settings {
  std::mutex mu;
  spdlog::level::level_enum level = spdlog::level::info;
  bool json = false;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
};

Settings& settings() {
  static Settings s;
  return s;
}

std::unique_ptr<spdlog::formatter> MakeFormatter(bool json) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (json) {
    f->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","component":"%n","pid":%P,"msg":"%*"})");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L %n[%P] %v");
  }
  return f;
}

}  // namespace

Status Configure(std::string_view level, std::string_view format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return InvalidArgument("unknown log level '{}' (trace, debug, info, warn, error, off)", level);
  }
  if (format != "text" && format != "json") {
    return InvalidArgument("unknown log format '{}' (text or json)", format);
  }
  auto& s = settings();
  std::lock_guard lock(s.mu);
  s.level = lvl;
  s.json = format == "json";
  s.sink->set_formatter(MakeFormatter(s.json));
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
  return Status::Ok();
}

std::shared_ptr<spdlog::logger> Get(const std::string& component) {
  auto& s = settings();
  std::lock_guard lock(s.mu);
  if (auto existing = spdlog::get(component)) return existing;
  static std::once_flag formatter_once;
  std::call_once(formatter_once, [&] { s.sink->set_formatter(MakeFormatter(s.json)); });
  auto logger = std::make_shared<spdlog::logger>(component, s.sink);
  logger->set_level(s.level);
  logger->flush_on(spdlog::level::info);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace tg::log
