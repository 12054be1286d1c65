// The host's side of GetInstanceConsoleOutput (compute/model/
// console_exchange.h): each request for an instance this node runs gets the
// tail of its console log, base64, under the request's nonce and a short
// lease, once per nonce.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "base/asio.h"
#include "base/status.h"
#include "compute/model/compute_state.h"
#include "etcd/client.h"

namespace tg::compute {

// How long an answer stays (the API waits about 5 s for it; a later call
// without an answer gets the last one while it lasts).
inline constexpr std::chrono::seconds kConsoleAnswerTtl{60};

class ConsoleAnswerer {
 public:
  // `run_dir(id)`: the instance's directory (its console.log).
  ConsoleAnswerer(etcd::Client& client, std::string node,
                  std::function<std::string(const std::string&)> run_dir)
      : client_(client), node_(std::move(node)), run_dir_(std::move(run_dir)) {}

  // Answers the requests in `requests` (the request prefix's keys) for
  // instances `state` binds to this node that were not answered yet.
  Task<Status> Answer(const std::map<std::string, etcd::KeyValue>& requests,
                      const ComputeState& state, int64_t now);

 private:
  etcd::Client& client_;
  std::string node_;
  std::function<std::string(const std::string&)> run_dir_;
  std::map<std::string, std::string> answered_;  // instance -> nonce
};

}  // namespace tg::compute
