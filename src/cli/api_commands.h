// `tiangong api`: the aliyun-style client of the HTTP API.
//   tiangong api configure [--profile P] --endpoint URL --access-key-id ID
//       --access-key-secret SECRET [--region R] [--ca-file CERT]
//   tiangong api [--profile P] [--endpoint URL ...] [--method GET|POST] [--pager]
//       <ecs|vpc> <Action> [--Param value ...]
// It signs with the profile's key, prints the reply's JSON and exits non-zero
// on an error reply; the server decides everything.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>

#include "base/status.h"

namespace tg::cli {

class ApiCommands {
 public:
  explicit ApiCommands(CLI::App& app);
  ~ApiCommands();
  bool chosen() const;
  Status Run();

 private:
  struct Flags;
  std::unique_ptr<Flags> flags_;
};

}  // namespace tg::cli
