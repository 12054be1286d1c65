#include "base/runtime.h"

#include <unistd.h>

#include <csignal>

#include "base/log.h"

namespace tg {

Runtime::Runtime() : shutdown_(io_.get_executor()) {}

Status Runtime::Run(std::function<Task<Status>()> main) {
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  int signals_seen = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        if (++signals_seen > 1) {
          // Someone insists: stop now, children die with us (PDEATHSIG).
          _exit(130);
        }
        log::Get("runtime")->info("shutting down signal={}", strsignal(signo));
        RequestShutdown();
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  Status result = Internal("role ended without a status");
  bool finished = false;
  asio::co_spawn(io_, main(), [&](std::exception_ptr e, Status s) {
    finished = true;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        s = Internal("unhandled exception: {}", ex.what());
      }
    }
    result = std::move(s);
    signals.cancel();
    io_.stop();
  });
  io_.run();
  io_.restart();
  if (!finished) return Internal("event loop stopped before the role finished");
  return result;
}

int ExitCode(const Status& s) {
  if (s.ok()) return 0;
  // Through the logger, so that with --log-format=json even the last word is JSON.
  log::Get("tiangong")->error("{}", s);
  return s.code() == ErrorCode::kInvalidArgument ? 2 : 1;
}

}  // namespace tg
