// The compute commands: `tiangong image|type|keypair|instance|deployment-set
// ...` and `tiangong host list`. They parse, call the compute store and
// print what it returned (tables for lists, JSON for show); the store
// decides everything.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "etcd/client.h"

namespace tg::cli {

class ComputeCommands {
 public:
  // Adds the commands to `app`; each takes --etcd into `etcd_list`.
  ComputeCommands(CLI::App& app, std::string& etcd_list);
  ~ComputeCommands();
  // Whether the parsed command line chose one of them.
  bool chosen() const;
  Task<Status> Run(etcd::Client& client);

 private:
  struct Flags;
  std::unique_ptr<Flags> flags_;
};

}  // namespace tg::cli
