// What `tiangong up` does for the API: HTTP on loopback (and HTTPS with a
// self-signed certificate it makes once under the state directory), and an
// admin account with an AccessKey made on the first start and kept in
// <state>/api-admin.json (mode 0600), printed at every start with a line
// that calls the API through the official SDK.
#pragma once

#include <string>

#include "api/serve.h"
#include "etcd/client.h"

namespace tg::up {

// Fills in up's defaults where the flags left the API's addresses empty,
// and makes the self-signed pair if the HTTPS address has none.
Status PrepareApi(const std::string& state_dir, api::ApiServeOptions& api);

// The admin account and its key (made once), then the banner on stdout.
Task<Status> BootstrapApiAdmin(etcd::Client& client, const std::string& state_dir,
                               const api::ApiServeOptions& api);

}  // namespace tg::up
