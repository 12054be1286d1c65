// The API's admin commands: `tiangong account create|list|delete` and
// `tiangong accesskey create|list|disable|enable|delete`, over etcd through
// the AccountStore. They parse and print (JSON, like the other show
// commands); the store decides. A key's secret is printed once, by create.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "etcd/client.h"

namespace tg::cli {

class AccountCommands {
 public:
  // Adds the commands to `app`; each takes --etcd into `etcd_list`.
  AccountCommands(CLI::App& app, std::string& etcd_list);
  ~AccountCommands();
  // Whether the parsed command line chose one of them.
  bool chosen() const;
  Task<Status> Run(etcd::Client& client);

 private:
  struct Flags;
  std::unique_ptr<Flags> flags_;
};

}  // namespace tg::cli
