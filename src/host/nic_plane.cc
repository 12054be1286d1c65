#include "host/nic_plane.h"

#include <sys/stat.h>

namespace tg::host {

Task<Result<std::string>> NicPlane::Plug(const std::string& eni, Duration timeout) {
  TG_CO_RETURN_IF_ERROR(co_await vpcs_.BindInterface(eni, host_));
  co_return co_await WaitForPort(eni, timeout);
}

Task<Result<std::string>> NicPlane::PlugStandby(const std::string& eni, Duration timeout) {
  TG_CO_RETURN_IF_ERROR(co_await vpcs_.StandbyInterface(eni, host_));
  co_return co_await WaitForPort(eni, timeout);
}

Task<Result<std::string>> NicPlane::WaitForPort(const std::string& eni, Duration timeout) {
  // The vSwitch makes the port when it applies the record: wait for it to
  // listen (a QEMU started before would fail to connect).
  const std::string socket = fmt::format("{}/{}.sock", dir_, eni);
  const TimePoint deadline = Clock::now() + timeout;
  for (;;) {
    struct stat st {};
    if (::stat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) co_return socket;
    if (Clock::now() >= deadline) {
      co_return Unavailable("the vSwitch opened no port for {} in time ({} missing)", eni, socket);
    }
    if (!co_await SleepFor(std::chrono::milliseconds(50))) co_return Cancelled("stopping");
  }
}

Task<Status> NicPlane::Unplug(const std::string& eni) {
  Status s = co_await vpcs_.UnbindInterface(eni, host_);
  // Already gone (the instance's delete removed it), or another host has
  // it (the instance was restarted there): nothing to release here.
  if (s.code() == ErrorCode::kNotFound || s.code() == ErrorCode::kFailedPrecondition)
    co_return Status::Ok();
  co_return s;
}

}  // namespace tg::host
