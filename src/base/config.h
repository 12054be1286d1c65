// Configuration: command-line flags (CLI11), optionally read from a config file
// given with --config FILE (TOML or INI; keys are the long flag names, and a
// subcommand's flags go in a [subcommand] section). Flags given on the command
// line win over the file. Every flag carries its help text, shown by --help.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace tg {

// Flags every role shares.
struct CommonFlags {
  std::string log_level = "info";
  std::string log_format = "text";
};

void AddCommonFlags(CLI::App& app, CommonFlags& flags);
Status ApplyCommonFlags(const CommonFlags& flags);

// Splits "a,b,c" into its non-empty, trimmed parts.
std::vector<std::string> SplitList(std::string_view list);

// Parses "64M", "1G", "4096" (K, M, G, T: powers of 1024) into bytes.
Result<uint64_t> ParseSize(std::string_view text);

// "HOST:PORT" or "[IPV6]:PORT" -> host (without brackets) and port.
Result<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view text);

}  // namespace tg
