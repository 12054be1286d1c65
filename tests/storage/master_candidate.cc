// One storage master candidate for the fencing test: campaigns and, while it
// leads, runs the storage master over a mirror of the storage prefix, as the
// server does. Its chunk requests wait up to a minute, so a request pending
// when the test freezes it is still pending when the test thaws it.
// SIGTERM makes it resign and exit 0.
//   master_candidate ENDPOINTS ELECTION NAME TTL_SECONDS
#include <cstdio>

#include "base/config.h"
#include "base/log.h"
#include "base/runtime.h"
#include "etcd/election.h"
#include "etcd/mirror.h"
#include "storage/common/metadata.h"
#include "storage/master/master.h"

using namespace tg;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s ENDPOINTS ELECTION NAME TTL_SECONDS\n", argv[0]);
    return 2;
  }
  const std::vector<std::string> endpoints = SplitList(argv[1]);
  const std::string election_name = argv[2], name = argv[3];
  const std::chrono::seconds ttl(std::atoi(argv[4]));

  Runtime rt;
  Status s = rt.Run([&]() -> Task<Status> {
    TG_CO_ASSIGN_OR_RETURN(auto client,
                           etcd::Client::Create(rt.executor(), {.endpoints = endpoints}));
    etcd::Mirror state(*client, std::string(storage::kStoragePrefix));
    TaskGroup mirror(rt.executor());
    mirror.Spawn("storage state mirror", state.Run());
    etcd::Election election(*client, election_name, name, ttl);
    while (!rt.shutdown().is_set()) {
      auto won = co_await (election.Campaign() || rt.shutdown().Wait());
      if (won.index() == 1) break;
      if (!std::get<0>(won).ok()) {
        co_await SleepFor(200ms);
        continue;
      }
      Event stop(rt.executor());
      TaskGroup leading(rt.executor());
      storage::Master master(*client, state, election.OwnerCompare(), {.chunk_timeout = 60s});
      leading.Spawn("storage master", master.Lead(stop));
      co_await (election.lost().Wait() || rt.shutdown().Wait());
      stop.Set();
      co_await leading.Join();
    }
    mirror.CancelAll();
    co_await mirror.Join();
    co_return co_await election.Resign();
  });
  return ExitCode(s);
}
