// The two ends of a live migration, as the agents carry it out
// (docs/compute.md draws the handshake; instance.h has the phases).
//
// Source: says where its devices sit (Placed -> Prepared), then, once the
// destination listens, sends the guest (QEMU's precopy, under the asked
// downtime and bandwidth, auto-converge on for busy guests) and follows it
// through QEMU's MIGRATION events. A failure or a cancel leaves its QEMU
// running the guest and ends the migration with that outcome; a completed
// one leaves its QEMU stopped for good (postmigrate) until the destination
// takes the instance, when the usual pass ends it here.
//
// Destination: starts an incoming QEMU on the same volumes (served, opened
// only at the guest's first request, after the source stopped: that open is
// what fences the source) and the same interfaces (a standby port on this
// vSwitch, frames still going to the source), and says where it listens
// (Listening). When its QEMU runs (RESUME), the interfaces are bound here
// (the vSwitches send the guest's frames here from then on) and the
// instance becomes this node's, its event Executed, in one transaction.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/unique_fd.h"
#include "compute/agent/agent_runtime.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("compute-agent");
  return log;
}

using namespace std::chrono_literals;

// A TCP port free on `address` now, for QEMU to listen on.
Result<uint16_t> FreePort(const std::string& address) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1)
    return InvalidArgument("migration address {} is not an IPv4 address", address);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    return ErrnoStatus(errno, "bind " + address);
  socklen_t len = sizeof a;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return ErrnoStatus(errno, "getsockname");
  return ntohs(a.sin_port);
}

}  // namespace

Task<Status> ComputeAgent::ReconcileOutgoing(const Instance& inst, Runtime& rt) {
  const Migration& m = *inst.migration;
  const bool sent = rt.migrating == m.event;
  switch (m.phase) {
    case MigrationPhase::kRequested:
    case MigrationPhase::kPrepared:
      co_return Status::Ok();  // the scheduler's step, or the destination's
    case MigrationPhase::kPlaced: {
      TG_CO_ASSIGN_OR_RETURN(auto slots, co_await rt.qemu->PciSlots());
      std::function<void(Migration&)> prepared = [&](Migration& next) {
        next.pci_slots = slots;
        next.phase = MigrationPhase::kPrepared;
      };
      co_return co_await store_.AdvanceMigration(inst.id, m.event, MigrationPhase::kPlaced,
                                                 std::move(prepared));
    }
    case MigrationPhase::kListening:
    case MigrationPhase::kCancelling:
      break;
  }
  if (!sent) {
    // A restarted agent finds QEMU already at it (or done).
    TG_CO_ASSIGN_OR_RETURN(MigrationInfo now, co_await rt.qemu->QueryMigration());
    const bool under_way = now.status == "setup" || now.status == "active" ||
                           now.status == "device" || now.status == "pre-switchover" ||
                           now.status == "completed";
    if (m.phase == MigrationPhase::kCancelling && !under_way) {
      std::string reason = "cancelled before it started";
      co_return co_await store_.EndMigration(inst.id, m.event, MigrationEnd::kCanceled,
                                             std::move(reason));
    }
    if (!under_way) {
      const MigrationLimits limits{.downtime_ms = m.downtime_ms,
                                   .bandwidth_mib = m.bandwidth_mib,
                                   .auto_converge = m.auto_converge};
      Log()->info("instance {}: migrating to {} at {}", inst.id, m.target, m.incoming);
      Status started = co_await rt.qemu->Migrate(m.incoming, limits);
      if (!started.ok()) {
        std::string reason = "the migration could not start: " + started.message();
        co_return co_await store_.EndMigration(inst.id, m.event, MigrationEnd::kFailed,
                                               std::move(reason));
      }
    }
    rt.migrating = m.event;
    rt.figures_noted = false;
  }
  TG_CO_ASSIGN_OR_RETURN(MigrationInfo info, co_await rt.qemu->QueryMigration());
  // QEMU says "completed" a moment before it has computed the figures
  // (total-time and downtime still 0): ask again, briefly.
  for (int again = 0; again < 20 && info.status == "completed" && info.total_ms == 0; ++again) {
    if (!co_await SleepFor(10ms)) co_return Cancelled("agent stopping");
    TG_CO_ASSIGN_OR_RETURN(info, co_await rt.qemu->QueryMigration());
  }
  if (info.status == "completed") {
    // The guest runs on the destination now (or is about to): its agent
    // takes the instance over; this QEMU never runs it again.
    if (!rt.figures_noted) {
      Log()->info("instance {}: migration to {} completed in {} ms, downtime {} ms, {} MiB sent",
                  inst.id, m.target, info.total_ms, info.downtime_ms, info.transferred_bytes >> 20);
      Status noted = co_await store_.NoteMigrationFigures(inst.id, m.event, info.total_ms,
                                                          info.downtime_ms, info.transferred_bytes);
      if (!noted.ok()) Log()->warn("instance {}: migration figures not kept: {}", inst.id, noted);
      rt.figures_noted = true;
    }
    co_return Status::Ok();
  }
  if (info.status == "failed" || info.status == "cancelled") {
    rt.migrating.clear();
    const bool cancelled = info.status == "cancelled";
    Log()->warn("instance {}: migration to {} {}{}; it runs on here", inst.id, m.target,
                info.status, info.error.empty() ? "" : ": " + info.error);
    // Named first: GCC 12 mishandles a conditional's temporaries inside co_await.
    std::string reason = "cancelled; it runs on where it was";
    if (!cancelled) {
      reason = "failed (" + (info.error.empty() ? std::string("no reason given") : info.error) +
               "); it runs on where it was";
    }
    const MigrationEnd end = cancelled ? MigrationEnd::kCanceled : MigrationEnd::kFailed;
    co_return co_await store_.EndMigration(inst.id, m.event, end, std::move(reason));
  }
  if (m.phase == MigrationPhase::kCancelling) {
    Log()->info("instance {}: migration to {} cancelled ({})", inst.id, m.target, info.status);
    co_return co_await rt.qemu->CancelMigration();  // its MIGRATION event brings the next pass
  }
  co_return Status::Ok();  // under way
}

Task<Status> ComputeAgent::ReconcileIncoming(const Instance& inst, Runtime& rt) {
  const Migration& m = *inst.migration;
  if (!rt.adopt_tried) {
    // An incoming QEMU left by an earlier agent cannot be told apart from a
    // half-started one: it goes, and the source sees the migration fail.
    rt.adopt_tried = true;
    auto left = co_await QemuProcess::Adopt(client_.executor(), inst.id, RunDir(inst.id), 10s);
    if (left.ok()) {
      TG_CO_RETURN_IF_ERROR(co_await (*left)->Quit());
      co_await (*left)->Release();
    }
  }
  if (rt.qemu && !rt.qemu->running()) {
    // It ended (the source cancelled, failed, or it could not load the
    // state): the source's agent ends the migration.
    Log()->warn("instance {}: the incoming QEMU went: {}", inst.id, rt.qemu->exit_reason());
    co_await rt.qemu->Release();
    rt.qemu.reset();
    co_await ReleaseResources(rt, true);
    co_return Status::Ok();
  }
  if (m.phase == MigrationPhase::kPrepared && !rt.qemu) {
    Status started = co_await StartIncoming(inst, rt);
    if (started.ok()) co_return Status::Ok();
    if (rt.qemu) (void)co_await rt.qemu->Quit();
    if (rt.qemu) co_await rt.qemu->Release();
    rt.qemu.reset();
    co_await ReleaseResources(rt, true);
    std::string reason = "the destination could not take it: " + started.message();
    (void)co_await store_.EndMigration(inst.id, m.event, MigrationEnd::kFailed, std::move(reason));
    co_return started;
  }
  if (!rt.qemu || !rt.qemu->resumed()) co_return Status::Ok();  // the source is sending
  // The guest runs here: its frames come here from now on, and the
  // instance is this node's. (Even if a cancel came too late: the source
  // has stopped for good.)
  for (const InstanceNic& n : inst.nics) {
    auto bound = co_await nics_.Plug(n.eni, 5s);
    if (!bound.ok())
      Log()->error("instance {}: interface {} not moved here: {}", inst.id, n.eni, bound.status());
  }
  const std::string reason = fmt::format("live-migrated from {} to {}", inst.host, m.target);
  TG_CO_RETURN_IF_ERROR(
      co_await store_.EndMigration(inst.id, m.event, MigrationEnd::kSwitched, reason));
  rt.paused = false;
  Log()->info("instance {}: {}", inst.id, reason);
  co_return Status::Ok();
}

Task<Status> ComputeAgent::StartIncoming(const Instance& inst, Runtime& rt) {
  const Migration& m = *inst.migration;
  TG_CO_ASSIGN_OR_RETURN(QemuSpec spec, co_await AttachDevices(inst, rt, &m));
  TG_CO_ASSIGN_OR_RETURN(
      rt.qemu, co_await QemuProcess::Launch(client_.executor(), spec, options_.start_timeout));
  rt.incarnation = inst.incarnation;
  TG_CO_RETURN_IF_ERROR(WriteIncarnation(spec.run_dir, inst.incarnation));
  TG_CO_ASSIGN_OR_RETURN(uint16_t port, FreePort(options_.migration_address));
  const std::string uri = fmt::format("tcp:{}:{}", options_.migration_address, port);
  TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Incoming(uri));
  Log()->info("instance {}: incoming migration from {} on {}", inst.id, inst.host, uri);
  std::function<void(Migration&)> listening = [&](Migration& next) {
    next.phase = MigrationPhase::kListening;
    next.incoming = uri;
  };
  co_return co_await store_.AdvanceMigration(inst.id, m.event, MigrationPhase::kPrepared,
                                             std::move(listening));
}

}  // namespace tg::compute
