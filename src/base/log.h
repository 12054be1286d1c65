// Structured logging on spdlog. One logger per component ("etcd", "election",
// "server"), so every line says where it comes from. Convention: a short message
// in words, then the facts as key=value pairs:
//   static auto log = tg::log::Get("etcd");
//   log->info("switched endpoint from={} to={}", a, b);
// Lines go to stderr as text, or as one JSON object per line (--log-format=json).
// Thread-safe: loggers may be used from any thread.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tg::log {

// Sets the level ("trace", "debug", "info", "warn", "error", "off") and the format
// ("text" or "json") for every logger, present and future.
Status Configure(std::string_view level, std::string_view format);

// The logger of a component, created on first use.
std::shared_ptr<spdlog::logger> Get(const std::string& component);

}  // namespace tg::log
