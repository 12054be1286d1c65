// Live migration end to end, on three hosts (TCG guests): a guest moves to
// another host while another guest pings it and holds a TCP stream to it and
// while it writes to its disk; a migration cancelled midway; a busy guest
// that converges only because auto-converge slows it down.
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "compute/e2e/moving_fixture.h"

namespace tg::testing {
namespace {

// The icmp_seq numbers of the replies in a ping's output.
std::set<int> RepliedSeqs(const std::string& output) {
  std::set<int> seqs;
  const std::regex reply("bytes from .* seq=([0-9]+)");
  for (auto it = std::sregex_iterator(output.begin(), output.end(), reply);
       it != std::sregex_iterator(); ++it)
    seqs.insert(std::stoi((*it)[1].str()));
  return seqs;
}

// The highest n of the "TG-TCP n" lines a console printed.
int LastTcpLine(const std::string& console) {
  int last = -1;
  const std::regex line("TG-TCP ([0-9]+)");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line);
       it != std::sregex_iterator(); ++it)
    last = std::max(last, std::stoi((*it)[1].str()));
  return last;
}

// The lines of a node's log that name the instance or its interface.
std::string LinesAbout(const std::string& log, const std::string& id, const std::string& eni) {
  std::istringstream lines(log);
  std::string out;
  for (std::string line; std::getline(lines, line);)
    if (line.find(id) != std::string::npos || line.find(eni) != std::string::npos)
      out += line + "\n";
  return out;
}

class MigrationEndToEnd : public MovingInstanceEndToEnd {
 protected:
  MigrationEndToEnd() : MovingInstanceEndToEnd(3) {}

  // `instance migrate`: the migration's event id.
  std::string Migrate(const std::string& id, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"instance", "migrate", id};
    args.insert(args.end(), more.begin(), more.end());
    auto event = RunTask(io_, cluster_.CliId(args));
    EXPECT_OK(event.status());
    return event.ok() ? *event : "";
  }
  // Until the migration's event has an outcome: the event then.
  compute::InstanceEvent WaitOutcome(const std::string& id, const std::string& event,
                                     Duration timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    compute::InstanceEvent last;
    while (Clock::now() < deadline) {
      for (const auto& e : EventsOf(id)) {
        if (e.id != event) continue;
        last = e;
        if (e.status != compute::kEventExecuting) return e;
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "migration " << event << " of " << id
                  << " has no outcome in time: " << last.status << " " << last.reason;
    return last;
  }
  compute::Instance Record(const std::string& id) {
    auto st = RunTask(io_, cluster_.ReadCompute());
    EXPECT_OK(st.status());
    if (!st.ok() || !st->instances.contains(id)) return {};
    return st->instances.at(id).value;
  }
  // Until the instance's migration has reached `phase`.
  bool WaitPhase(const std::string& id, compute::MigrationPhase phase, Duration timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const compute::Instance i = Record(id);
      if (i.migration && i.migration->phase == phase) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // Until nothing of the instance is left on host `h`.
  bool WaitGoneFrom(int h, const std::string& id, Duration timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    while (std::filesystem::exists(cluster_.RunDir(h, id)) && Clock::now() < deadline)
      std::this_thread::sleep_for(100ms);
    return !std::filesystem::exists(cluster_.RunDir(h, id));
  }
  std::string RunIn(const std::string& run_dir, const std::string& command,
                    Duration timeout = 30s) {
    auto console = GuestConsole::Connect(run_dir, 10s);
    EXPECT_OK(console.status());
    if (!console.ok()) return "";
    auto out = console->Run(command, timeout);
    EXPECT_OK(out.status());
    return out.ok() ? *out : "";
  }
};

TEST_F(MigrationEndToEnd, ARunningGuestMovesLosingAtMostOnePingKeepingItsTcpStreamAndWrites) {
  const auto [ia, ib] = BootApart();
  ASSERT_FALSE(HasFailure());
  const std::string a = ia.id, b = ib.id;
  const std::string ip_a = IpOf(ia), ip_b = IpOf(ib);
  ASSERT_TRUE(WaitForConsole(RunDirOf(ia), "TG-GUEST: eth0 " + ip_a + "/", 60s)) << Diagnose(ia);
  ASSERT_TRUE(WaitForConsole(RunDirOf(ib), "TG-GUEST: eth0 " + ip_b + "/", 60s)) << Diagnose(ib);
  const uint64_t epoch_before = EpochOf(ia.disks.at(1).volume);  // the disk written

  // b listens and prints each line a sends over one TCP connection (nc's
  // own input a pipe: a background job reading the console would stop).
  RunIn(RunDirOf(ib),
        "(sleep 100000 | nc -l -p 5001 | while read l; do echo \"TG-TCP $l\" > /dev/console; done) "
        ">/dev/null 2>&1 & true");
  RunIn(RunDirOf(ia),
        fmt::format("(i=0; while :; do echo $i; i=$((i+1)); usleep 100000; done | nc {} 5001) "
                    ">/dev/null 2>&1 & true",
                    ip_b));
  ASSERT_TRUE(WaitForConsole(RunDirOf(ib), "TG-TCP 10", 60s)) << ConsoleLog(RunDirOf(ib));
  StartWriter(RunDirOf(ia));
  ASSERT_FALSE(HasFatalFailure());
  // b pings a twice a second throughout (a lost ping is a gap of 0.5-1 s).
  RunIn(RunDirOf(ib),
        fmt::format("ping -i 0.5 {} > /tmp/ping.log 2>&1 & echo $! > /tmp/ping.pid", ip_a));
  for (int i = 0; i < 100 && RepliedSeqs(RunIn(RunDirOf(ib), "cat /tmp/ping.log")).size() < 5; ++i)
    std::this_thread::sleep_for(100ms);

  // 100 ms, not the default 300: on a loaded machine the guest's real
  // pause (source stopped to destination running) is 2-3 times QEMU's own
  // downtime figure.
  const std::string event = Migrate(a, {"--downtime-ms", "100"});
  ASSERT_FALSE(event.empty());
  const compute::InstanceEvent done = WaitOutcome(a, event, 300s);
  ASSERT_EQ(done.status, compute::kEventExecuted) << done.reason;
  const compute::Instance moved = Record(a);
  ASSERT_EQ(moved.host, done.to_host);
  EXPECT_NE(moved.host, ia.host);
  EXPECT_NE(moved.host, ib.host) << "anti-affinity broken";
  EXPECT_FALSE(moved.migration.has_value());
  EXPECT_EQ(moved.status, InstanceStatus::kRunning);
  EXPECT_EQ(moved.incarnation, ia.incarnation) << "a migration is not a restart";
  // The source's QEMU's figures follow (it notes them once it sees its side completed).
  compute::InstanceEvent figures = done;
  for (int i = 0; i < 100 && figures.migration_transferred_bytes == 0; ++i) {
    std::this_thread::sleep_for(100ms);
    for (const auto& e : EventsOf(a))
      if (e.id == event) figures = e;
  }
  EXPECT_GT(figures.migration_transferred_bytes, 0u);
  EXPECT_GT(figures.migration_total_ms, 0u);
  EXPECT_GT(figures.migration_downtime_ms, 0u);
  // The source holds nothing of it after.
  EXPECT_TRUE(WaitGoneFrom(HostOf(ia), a, 60s)) << ReadFile(cluster_.NodeLog(HostOf(ia)));
  EXPECT_EQ(LiveQemus(a), 1);

  // The stream goes on over the same connection (a broken one ends nc).
  const int tcp_at_switch = LastTcpLine(ConsoleLog(RunDirOf(ib)));
  EXPECT_TRUE(WaitForConsole(RunDirOf(ib), fmt::format("TG-TCP {}", tcp_at_switch + 20), 60s))
      << ConsoleLog(RunDirOf(ib));
  // Pings: at most one lost across the move.
  const std::string run = RunDirOf(moved);
  // Six more replies after the switch-over, at least.
  const std::set<int> before = RepliedSeqs(RunIn(RunDirOf(ib), "cat /tmp/ping.log"));
  const int seen = before.empty() ? 0 : *before.rbegin();
  for (int i = 0; i < 100; ++i) {
    const std::set<int> seqs = RepliedSeqs(RunIn(RunDirOf(ib), "cat /tmp/ping.log"));
    if (!seqs.empty() && *seqs.rbegin() > seen + 6) break;
    std::this_thread::sleep_for(200ms);
  }
  const std::string ping =
      RunIn(RunDirOf(ib), "kill -INT $(cat /tmp/ping.pid); sleep 1; cat /tmp/ping.log");
  const std::set<int> seqs = RepliedSeqs(ping);
  ASSERT_FALSE(seqs.empty()) << ping;
  const int lost = *seqs.rbegin() - *seqs.begin() + 1 - static_cast<int>(seqs.size());
  EXPECT_LE(lost, 1) << ping << "\nsource:\n"
                     << LinesAbout(ReadFile(cluster_.NodeLog(HostOf(ia))), a, ia.nics.at(0).eni)
                     << "\ndestination:\n"
                     << LinesAbout(ReadFile(cluster_.NodeLog(HostOf(moved))), a, ia.nics.at(0).eni)
                     << "\ndestination QEMU's events:\n"
                     << ReadFile(compute::QmpEventLogPath(RunDirOf(moved))) << "\npinger's host:\n"
                     << LinesAbout(ReadFile(cluster_.NodeLog(HostOf(ib))), a, ia.nics.at(0).eni);
  std::cout << fmt::format(
      "migration: {} -> {}: total {} ms, downtime {} ms, {} MiB sent; pings lost {} of {}\n",
      ia.host, moved.host, figures.migration_total_ms, figures.migration_downtime_ms,
      figures.migration_transferred_bytes >> 20, lost, *seqs.rbegin() - *seqs.begin() + 1);

  // Its disks: the writer goes on there, every acknowledged record is in
  // place, and the source is fenced (a new epoch).
  ASSERT_TRUE(WaitForConsole(run, "TG-ACK", 60s)) << Diagnose(moved);
  CheckRecords(run, LastAck(ConsoleLog(run)));
  EXPECT_GT(EpochOf(moved.disks.at(1).volume), epoch_before);
  // Its interface moved with it.
  auto net = RunTask(io_, cluster_.ReadNetwork());
  ASSERT_OK(net.status());
  const auto& eni = net->interfaces.at(moved.nics.at(0).eni).value;
  EXPECT_EQ(eni.host, moved.host);
  EXPECT_EQ(eni.standby_host, "");
  auto listed = RunTask(io_, cluster_.Cli({"instance", "events", a}));
  ASSERT_OK(listed.status());
  EXPECT_NE(listed->find("SystemMaintenance.LiveMigrate"), std::string::npos) << *listed;
}

TEST_F(MigrationEndToEnd, AMigrationCancelledMidwayLeavesItRunningWhereItWas) {
  const std::string a = Create({"--data-disk", "64M"});
  const compute::Instance ia = Boot(a);
  ASSERT_FALSE(HasFailure());
  const uint64_t epoch_before = EpochOf(ia.disks.at(0).volume);
  // 1 MiB/s: a gigabyte of memory would take many minutes.
  const std::string event = Migrate(a, {"--bandwidth-mib", "1"});
  ASSERT_FALSE(event.empty());
  ASSERT_TRUE(WaitPhase(a, compute::MigrationPhase::kListening, 120s))
      << ReadFile(cluster_.NodeLog(HostOf(ia)));
  const compute::Instance listening = Record(a);
  ASSERT_TRUE(listening.migration.has_value());
  const std::string target = listening.migration->target;
  // The source's QEMU is sending: its MIGRATION event said so.
  ASSERT_TRUE(WaitForFile(compute::QmpEventLogPath(RunDirOf(ia)), "\"active\"", 60s))
      << ReadFile(compute::QmpEventLogPath(RunDirOf(ia)));
  auto cancelled = RunTask(io_, cluster_.Cli({"instance", "migrate", a, "--cancel"}));
  ASSERT_OK(cancelled.status());
  const compute::InstanceEvent done = WaitOutcome(a, event, 120s);
  EXPECT_EQ(done.status, compute::kEventCanceled)
      << done.reason << "\n"
      << ReadFile(cluster_.NodeLog(HostOf(ia))) << "\n"
      << ReadFile(cluster_.NodeLog(std::stoi(target.substr(1))));
  const compute::Instance after = Record(a);
  EXPECT_EQ(after.host, ia.host);
  EXPECT_EQ(after.status, InstanceStatus::kRunning);
  EXPECT_FALSE(after.migration.has_value());
  // The guest runs on where it was, answering.
  EXPECT_NE(RunIn(RunDirOf(ia), "echo alive-$((40+2))").find("alive-42"), std::string::npos);
  // Nothing of it is left at the destination, which never wrote its disk.
  ASSERT_EQ(target.substr(0, 1), "h");
  EXPECT_TRUE(WaitGoneFrom(std::stoi(target.substr(1)), a, 60s))
      << ReadFile(cluster_.NodeLog(std::stoi(target.substr(1))));
  EXPECT_EQ(LiveQemus(a), 1);
  EXPECT_EQ(EpochOf(ia.disks.at(0).volume), epoch_before);
  auto net = RunTask(io_, cluster_.ReadNetwork());
  ASSERT_OK(net.status());
  EXPECT_EQ(net->interfaces.at(ia.nics.at(0).eni).value.host, ia.host);
  EXPECT_EQ(net->interfaces.at(ia.nics.at(0).eni).value.standby_host, "");
}

// Host maintenance: a host with three instances drains with all of them
// running elsewhere, moved live (same incarnation, nothing left behind);
// then undrained, it is up again.
TEST_F(MigrationEndToEnd, AHostWithThreeInstancesDrainsWithAllOfThemRunningElsewhere) {
  // Only h1 takes instances while they are made.
  for (const char* h : {"h2", "h3"})
    ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"host", "drain", h}))));
  EXPECT_EQ(HostState("h2").first, "drained");
  std::vector<compute::Instance> booted;
  for (int i = 0; i < 3; ++i) booted.push_back(Boot(Create()));
  ASSERT_FALSE(HasFailure());
  for (const auto& i : booted) ASSERT_EQ(i.host, "h1");
  for (const char* h : {"h2", "h3"})
    ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"host", "undrain", h}))));
  EXPECT_EQ(HostState("h2").first, "up");

  auto drained = RunTask(io_, cluster_.Cli({"host", "drain", "h1"}));
  ASSERT_OK(drained.status());
  EXPECT_NE(drained->find("h1 draining"), std::string::npos) << *drained;
  const auto [state, listing] = WaitHostStateNot("h1", "draining", 600s);
  EXPECT_EQ(state, "drained") << listing << ReadFile(cluster_.NodeLog(1));
  for (const auto& before : booted) {
    const compute::Instance now = Record(before.id);
    EXPECT_EQ(now.status, InstanceStatus::kRunning) << before.id;
    EXPECT_NE(now.host, "h1") << before.id;
    EXPECT_EQ(now.incarnation, before.incarnation) << before.id << ": restarted, not migrated";
    EXPECT_TRUE(WaitGoneFrom(1, before.id, 60s)) << ReadFile(cluster_.NodeLog(1));
    EXPECT_EQ(LiveQemus(before.id), 1) << before.id;
    bool migrated = false;
    for (const auto& e : EventsOf(before.id))
      migrated |= e.type == compute::kEventLiveMigrate && e.status == compute::kEventExecuted;
    EXPECT_TRUE(migrated) << before.id;
    // The guest answers where it is now.
    EXPECT_NE(RunIn(RunDirOf(now), "echo alive-$((40+2))").find("alive-42"), std::string::npos)
        << Diagnose(now);
  }
  // Nothing new lands on it while it is drained; undrained, it is up.
  const compute::Instance later = Boot(Create());
  EXPECT_NE(later.host, "h1");
  ASSERT_OK(StatusOf(RunTask(io_, cluster_.Cli({"host", "undrain", "h1"}))));
  EXPECT_EQ(HostState("h1").first, "up");
  EXPECT_FALSE(RunTask(io_, cluster_.Cli({"host", "undrain", "h1"})).ok()) << "undrained twice";
}

// Disabled: it converges (1.6 s, 6 ms downtime) but the guest's kernel then
// panics on the destination (stack-protector in __alloc_pages, under dd):
// guest memory arrives corrupted when it is rewritten during the migration.
// The cause is not found yet (see the note).
TEST_F(MigrationEndToEnd, DISABLED_ABusyGuestConvergesWithAutoConverge) {
  const std::string a = Create();
  const compute::Instance ia = Boot(a);
  ASSERT_FALSE(HasFailure());
  // 96 MiB of its memory rewritten without pause, under a tight downtime
  // and bandwidth: only slowing the guest down lets the last pass fit.
  RunIn(RunDirOf(ia),
        "(while :; do dd if=/dev/zero of=/tmp/hot bs=1M count=96 2>/dev/null; "
        "echo TG-HOT > /dev/console; done) >/dev/null 2>&1 & true");
  ASSERT_TRUE(WaitForConsole(RunDirOf(ia), "TG-HOT", 60s));
  const std::string event = Migrate(a, {"--bandwidth-mib", "64", "--downtime-ms", "50"});
  ASSERT_FALSE(event.empty());
  const compute::InstanceEvent done = WaitOutcome(a, event, 400s);
  ASSERT_EQ(done.status, compute::kEventExecuted) << done.reason;
  const compute::Instance moved = Record(a);
  EXPECT_NE(moved.host, ia.host);
  std::cout << fmt::format("busy migration: total {} ms, downtime {} ms, {} MiB sent\n",
                           done.migration_total_ms, done.migration_downtime_ms,
                           done.migration_transferred_bytes >> 20);
  // Still at it on the new host.
  EXPECT_TRUE(WaitForConsole(RunDirOf(moved), "TG-HOT", 60s)) << Diagnose(moved);
  EXPECT_TRUE(WaitGoneFrom(HostOf(ia), a, 60s));
  EXPECT_EQ(LiveQemus(a), 1);
}

}  // namespace
}  // namespace tg::testing
