#include "compute/agent/console_answer.h"

#include <nlohmann/json.hpp>

#include "compute/agent/console_log.h"
#include "compute/model/base64.h"
#include "compute/model/console_exchange.h"

namespace tg::compute {

Task<Status> ConsoleAnswerer::Answer(const std::map<std::string, etcd::KeyValue>& requests,
                                     const ComputeState& state, int64_t now) {
  Status result;
  std::map<std::string, std::string> still;  // requests that are still there
  for (const auto& [key, kv] : requests) {
    if (!key.starts_with(kConsoleRequestsPrefix)) continue;
    const std::string id = key.substr(kConsoleRequestsPrefix.size());
    auto inst = state.instances.find(id);
    if (inst == state.instances.end() || inst->second.value.host != node_) continue;
    auto request = nlohmann::json::parse(kv.value, nullptr, false);
    if (!request.is_object() || !request.contains("nonce") || !request["nonce"].is_string())
      continue;  // not a request this binary understands: left to whoever wrote it
    const std::string nonce = request["nonce"].get<std::string>();
    still[id] = nonce;
    if (auto it = answered_.find(id); it != answered_.end() && it->second == nonce) continue;
    nlohmann::json answer = {
        {"nonce", nonce},
        {"output", EncodeBase64(ReadConsoleTail(run_dir_(id), kConsoleOutputBytes))},
        {"time", now}};
    auto lease = co_await client_.GrantLease(kConsoleAnswerTtl);
    if (!lease.ok()) {
      if (result.ok()) result = lease.status();
      continue;
    }
    etcd::PutOptions put;
    put.lease = lease->id;
    auto done = co_await client_.Put(ConsoleOutputKey(id), answer.dump(), put);
    if (!done.ok()) {
      if (result.ok()) result = done.status();
      continue;
    }
    answered_[id] = nonce;
  }
  // Forget answers whose request has gone (its lease ran out).
  for (auto it = answered_.begin(); it != answered_.end();) {
    if (still.count(it->first)) {
      ++it;
    } else {
      it = answered_.erase(it);
    }
  }
  co_return result;
}

}  // namespace tg::compute
