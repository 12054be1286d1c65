// The flags of the HTTP API that `tiangong server` and `tiangong up` share.
#pragma once

#include <CLI/CLI.hpp>

#include "api/serve.h"

namespace tg::cli {

void AddApiServeFlags(CLI::App* cmd, api::ApiServeOptions& options);

}  // namespace tg::cli
