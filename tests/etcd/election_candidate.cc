// One candidate of the election failover test: campaigns, and while it leads
// checks is_leader() every 20 ms, logging each check (see leadership_log.h).
// SIGTERM makes it resign and exit 0.
//   election_candidate ENDPOINTS NAME TTL_SECONDS LOG_PATH
#include <cstdio>

#include "base/config.h"
#include "base/runtime.h"
#include "etcd/election.h"
#include "support/leadership_log.h"
#include "support/test_util.h"

using namespace tg;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ENDPOINTS NAME TTL_SECONDS LOG_PATH\n", argv[0]);
    return 2;
  }
  const std::vector<std::string> endpoints = SplitList(argv[1]);
  const std::string name = argv[2];
  const std::chrono::seconds ttl(std::atoi(argv[3]));
  const std::string log_path = argv[4];
  auto note = [&](const char* event) {
    tg::testing::AppendLeadershipEvent(log_path, tg::testing::MonotonicNanos(), name, event);
  };

  Runtime rt;
  Status s = rt.Run([&]() -> Task<Status> {
    TG_CO_ASSIGN_OR_RETURN(auto client,
                           etcd::Client::Create(rt.executor(), {.endpoints = endpoints}));
    etcd::Election election(*client, "test", name, ttl);
    while (!rt.shutdown().is_set()) {
      auto won = co_await (election.Campaign() || rt.shutdown().Wait());
      if (won.index() == 1) break;
      if (!std::get<0>(won).ok()) {
        co_await SleepFor(200ms);
        continue;
      }
      if (!election.is_leader()) continue;
      note("ELECTED");
      while (!rt.shutdown().is_set()) {
        if (!election.is_leader()) {
          note("STEPPED_DOWN");
          break;
        }
        note("LEADING");
        co_await SleepFor(20ms);
      }
    }
    Status resigned = co_await election.Resign();
    note("STEPPED_DOWN");
    co_return resigned;
  });
  return ExitCode(s);
}
