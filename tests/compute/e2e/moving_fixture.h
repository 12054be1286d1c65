// What the end-to-end tests of instances that change hosts share (host
// failures, live migration): waiting for the move, counting QEMUs, reading
// events and volume epochs, and a disk writer in the guest whose every
// acknowledged record is checked on the new host.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "compute/e2e/instance_fixture.h"
#include "storage/common/metadata.h"

namespace tg::testing {

inline double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// QEMU's timestamps of `event` lines in an instance's run-state log.
inline std::vector<double> EventTimes(const std::string& run_dir, const std::string& event) {
  std::vector<double> out;
  const std::string log = ReadFile(compute::QmpEventLogPath(run_dir));
  const std::regex line("([0-9]+\\.[0-9]+) " + event + " ");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it)
    out.push_back(std::stod((*it)[1].str()));
  return out;
}

// The highest n of the "TG-ACK n" lines the guest's disk writer printed.
inline int LastAck(const std::string& console) {
  int last = -1;
  const std::regex ack("TG-ACK ([0-9]+)");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), ack);
       it != std::sregex_iterator(); ++it)
    last = std::max(last, std::stoi((*it)[1].str()));
  return last;
}

// Record n at block n of /dev/vdb, each written with direct I/O and an fsync
// before its ack is printed: an acked record is durable.
inline constexpr const char* kWriter =
    "(i=0; while :; do printf 'rec-%08d' $i | dd of=/dev/vdb bs=4096 seek=$i count=1 "
    "conv=sync,notrunc,fsync oflag=direct 2>/dev/null || break; echo TG-ACK $i > /dev/console; "
    "i=$((i+1)); done) > /dev/null 2>&1 & true";

// Reads records 0..last back and prints "TG-CHECKED n bad m".
inline std::string CheckerFor(int last) {
  return fmt::format(
      "i=0; bad=0; while [ $i -le {} ]; do r=$(dd if=/dev/vdb bs=4096 skip=$i count=1 "
      "iflag=direct 2>/dev/null | head -c 12); [ \"$r\" = \"$(printf 'rec-%08d' $i)\" ] || "
      "{{ bad=$((bad+1)); echo MISSING $i; }}; i=$((i+1)); done; echo TG-CHECKED $i bad $bad",
      last);
}

// Until `text` is in the file at `path`.
inline bool WaitForFile(const std::string& path, const std::string& text, Duration timeout) {
  const TimePoint deadline = Clock::now() + timeout;
  while (ReadFile(path).find(text) == std::string::npos) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

class MovingInstanceEndToEnd : public InstanceEndToEnd {
 protected:
  explicit MovingInstanceEndToEnd(int hosts) : InstanceEndToEnd(hosts) {}

  // Two running instances kept apart by a deployment set (on distinct
  // hosts), the first with a 64 MiB data disk for the writer.
  std::pair<compute::Instance, compute::Instance> BootApart() {
    auto ds = RunTask(io_, cluster_.CliId({"deployment-set", "create", "apart"}));
    EXPECT_OK(ds.status());
    if (!ds.ok()) return {};
    const std::string a = Create({"--deployment-set", *ds, "--data-disk", "64M"});
    const std::string b = Create({"--deployment-set", *ds});
    const compute::Instance ia = Boot(a);
    const compute::Instance ib = Boot(b);
    EXPECT_NE(ia.host, ib.host);
    return {ia, ib};
  }
  // Until the instance runs on a host other than `from`, at incarnation
  // `incarnation` or later: the record then.
  compute::Instance WaitMoved(const std::string& id, const std::string& from, Duration timeout,
                              uint64_t incarnation) {
    const TimePoint deadline = Clock::now() + timeout;
    std::string last;
    while (Clock::now() < deadline) {
      auto st = RunTask(io_, cluster_.ReadCompute());
      if (st.ok() && st->instances.contains(id)) {
        const compute::Instance& i = st->instances.at(id).value;
        last = fmt::format("{} on '{}' ({}), incarnation {}", compute::InstanceStatusName(i.status),
                           i.host, i.status_reason, i.incarnation);
        if (i.status == InstanceStatus::kRunning && !i.host.empty() && i.host != from &&
            i.incarnation >= incarnation)
          return i;
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << id << " not running elsewhere in time: " << last;
    return {};
  }
  // The STATE column of `host list` for host `name` ("" if not listed),
  // and the whole listing.
  std::pair<std::string, std::string> HostState(const std::string& name) {
    auto listed = RunTask(io_, cluster_.Cli({"host", "list"}));
    EXPECT_OK(listed.status());
    if (!listed.ok()) return {};
    std::istringstream rows(*listed);
    for (std::string host, state, line; std::getline(rows, line);) {
      std::istringstream(line) >> host >> state;
      if (host == name) return {state, *listed};
    }
    return {"", *listed};
  }
  // Until host `name` is listed in a state other than `not_state`, or
  // `timeout`: the state then, and the listing.
  std::pair<std::string, std::string> WaitHostStateNot(const std::string& name,
                                                       const std::string& not_state,
                                                       Duration timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    auto seen = HostState(name);
    while (seen.first == not_state && Clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
      seen = HostState(name);
    }
    return seen;
  }
  // Live QEMUs of the instance over every host's instance directory.
  int LiveQemus(const std::string& id) {
    int n = 0;
    for (int h = 1; h <= hosts_; ++h) {
      const std::string pid = ReadFile(compute::PidFilePath(cluster_.RunDir(h, id)));
      if (pid.empty()) continue;
      const std::string cmdline = ReadFile(fmt::format("/proc/{}/cmdline", std::stoi(pid)));
      n += cmdline.find(id) != std::string::npos;
    }
    return n;
  }
  // The events the scheduler wrote for the instance.
  std::vector<compute::InstanceEvent> EventsOf(const std::string& id) {
    std::vector<compute::InstanceEvent> out;
    auto st = RunTask(io_, cluster_.ReadCompute());
    EXPECT_OK(st.status());
    if (!st.ok()) return out;
    for (const auto& [eid, e] : st->events)
      if (e.value.instance == id) out.push_back(e.value);
    return out;
  }
  uint64_t EpochOf(const std::string& volume) {
    auto got = RunTask(io_, cluster_.storage().client().Get(storage::VolumeKey(volume)));
    EXPECT_OK(got.status());
    if (!got.ok() || got->kvs.empty()) return 0;
    auto v = storage::DecodeVolume(got->kvs[0].value);
    EXPECT_OK(v.status());
    return v.ok() ? v->epoch : 0;
  }
  // Starts the disk writer in the guest and waits for its first acks.
  void StartWriter(const std::string& run_dir) {
    auto console = GuestConsole::Connect(run_dir, 10s);
    ASSERT_OK(console.status());
    ASSERT_OK(StatusOf(console->Run(kWriter, 10s)));
    ASSERT_TRUE(WaitForConsole(run_dir, "TG-ACK 20", 120s)) << ConsoleLog(run_dir);
  }
  // In the guest now at `run_dir`: every record up to `last` is there.
  void CheckRecords(const std::string& run_dir, int last) {
    auto console = GuestConsole::Connect(run_dir, 10s);
    ASSERT_OK(console.status());
    auto checked = console->Run(CheckerFor(last), 300s);
    ASSERT_OK(checked.status());
    EXPECT_NE(checked->find(fmt::format("TG-CHECKED {} bad 0", last + 1)), std::string::npos)
        << *checked;
    std::cout << "records acknowledged before the move and found after it: " << last + 1 << "\n";
  }
};

}  // namespace tg::testing
