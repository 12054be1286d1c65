// Numbers handed out by a counter key, each at most once, in the same
// transaction as whatever the number names (so a number is never taken
// without its record, nor a record made under a taken number).
#pragma once

#include <functional>
#include <string>

#include "etcd/client.h"

namespace tg::etcd {

// Commits `build(number, txn)` together with taking `number` from the
// counter at `key` (the first is 1); retried while only the counter raced.
// FailedPrecondition if the compares `build` added failed.
Task<Result<uint64_t>> CommitWithNextNumber(Client& client, std::string key,
                                            std::function<void(uint64_t, Txn&)> build);

}  // namespace tg::etcd
