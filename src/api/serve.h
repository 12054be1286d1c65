// The API as `tiangong server --api-listen` runs it: the stores, the
// registry, accounts and signatures, throttling, the action table and the
// HTTP(S) frontend, put together. Every server of a cluster may serve it:
// all state is in etcd.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "api/auth/authenticator.h"
#include "api/auth/throttle.h"
#include "api/http/http_server.h"
#include "api/service/context.h"
#include "base/async.h"
#include "etcd/client.h"

namespace tg::api {

struct ApiServeOptions {
  // Plain HTTP on `http.listen` (empty: none) and HTTPS on `tls_listen`
  // (empty: none) with `tls_cert`/`tls_key`; both take `http`'s limits.
  HttpServerOptions http = {.listen = ""};
  std::string tls_listen;
  std::string tls_cert, tls_key;
  ApiSettings settings;
  ThrottleOptions throttle;
  AuthenticatorOptions auth;
  std::string qemu_img = "qemu-img";
};

// Whether the options ask for the API at all.
inline bool ServesApi(const ApiServeOptions& o) {
  return !o.http.listen.empty() || !o.tls_listen.empty();
}

// Serves until `stop` is set. `on_ready` gets the bound ports (HTTP, HTTPS;
// 0 for one not served) once the API answers. Fails at once if the address cannot be bound or the
// certificate cannot be read.
Task<Status> ServeApi(etcd::Client& client, const ApiServeOptions& options, Event& stop,
                      std::function<void(uint16_t, uint16_t)> on_ready = {});

}  // namespace tg::api
