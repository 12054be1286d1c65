// What the control plane looks like now (`tiangong status`): the servers
// registered and which one leads the controllers.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "etcd/client.h"

namespace tg::server {

struct ControlPlaneStatus {
  std::string etcd_endpoint;          // the member that answered
  std::vector<std::string> servers;   // each live server's registration (JSON)
  std::optional<std::string> leader;  // the controllers' leader, if there is one
};

Task<Result<ControlPlaneStatus>> ReadControlPlaneStatus(etcd::Client& client);

}  // namespace tg::server
