// The operator's VPC commands: `tiangong vpc|vswitch|sg|eni
// create|list|delete` and `tiangong sg rule add|remove`. They change the
// VPC records in etcd through the VPC store (every change a conditioned
// transaction); the controller and the vSwitches do the rest.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "etcd/client.h"

namespace tg::cli {

class NetworkCommands {
 public:
  // Adds the commands to `app`; each takes --etcd into `etcd_list`.
  NetworkCommands(CLI::App& app, std::string& etcd_list);
  ~NetworkCommands();
  // Whether the parsed command line chose one of them.
  bool chosen() const;
  Task<Status> Run(etcd::Client& client);

 private:
  struct Flags;
  std::unique_ptr<Flags> flags_;
};

}  // namespace tg::cli
