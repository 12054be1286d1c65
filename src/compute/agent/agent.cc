#include "compute/agent/agent.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <thread>

#include "base/log.h"
#include "compute/agent/agent_runtime.h"
#include "compute/agent/console_log.h"
#include "compute/model/console_exchange.h"
#include "compute/qemu/accelerator.h"
#include "etcd/lease.h"

namespace tg::compute {

namespace {

auto Log() {
  static auto log = log::Get("compute-agent");
  return log;
}

using namespace std::chrono_literals;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Resources MachineResources() {
  Resources r;
  r.vcpus = std::max(1u, std::thread::hardware_concurrency());
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (in >> key >> kib) {
    if (key == "MemTotal:") break;
    in.ignore(1 << 10, '\n');
  }
  r.memory_mib = kib / 1024;
  return r;
}

}  // namespace

ComputeAgent::ComputeAgent(etcd::Client& client, ComputeStore& store, network::VpcStore& vpcs,
                           DiskPlane& disks, NicPlane& nics, AgentOptions options,
                           InstanceObserver* observer)
    : client_(client),
      store_(store),
      vpcs_(vpcs),
      disks_(disks),
      nics_(nics),
      options_(std::move(options)),
      observer_(observer),
      mirror_(client, std::string(kComputePrefix)),
      console_requests_(client, std::string(kConsoleRequestsPrefix)),
      console_(client, options_.node, [this](const std::string& id) { return RunDir(id); }),
      wake_(client.executor()) {}

ComputeAgent::~ComputeAgent() = default;

bool ComputeAgent::HeldHere(const Instance& i) const {
  return i.host == options_.node || (i.migration && i.migration->target == options_.node);
}

std::string ComputeAgent::RunDir(const std::string& id) const {
  return options_.run_dir + "/" + id;
}

std::string ComputeAgent::DiskSocket(const std::string& id, const std::string& disk) const {
  return RunDir(id) + "/" + disk + ".sock";
}

uint16_t ComputeAgent::DiskQueues(const Instance& inst) const {
  return static_cast<uint16_t>(std::clamp<uint32_t>(inst.resources.vcpus, 1, 4));
}

Task<Status> ComputeAgent::Run(Event& stop) {
  const Executor ex = client_.executor();
  if (options_.accelerator) {
    accelerator_ = *options_.accelerator;
  } else {
    accelerator_ = co_await DetectAccelerator(ex, options_.qemu_binary);
  }
  Resources capacity = options_.capacity;
  const Resources machine = MachineResources();
  if (capacity.vcpus == 0) capacity.vcpus = machine.vcpus;
  if (capacity.memory_mib == 0) capacity.memory_mib = machine.memory_mib;
  ComputeNode node{.name = options_.node,
                   .capacity = capacity,
                   .zone = options_.zone,
                   .pod = options_.pod,
                   .rack = options_.rack,
                   .host = options_.physical_host.empty() ? options_.node : options_.physical_host};
  std::error_code ec;
  std::filesystem::create_directories(options_.run_dir, ec);
  if (ec) co_return Internal("run directory {}: {}", options_.run_dir, ec.message());

  // The node's record lives on its lease: a dead node stops being a place
  // the scheduler binds to.
  const std::chrono::seconds ttl(options_.lease_ttl_seconds);
  TG_CO_ASSIGN_OR_RETURN(auto lease, co_await etcd::LeaseKeeper::Start(client_, ttl));
  auto put =
      co_await client_.Put(NodeKey(node.name), EncodeComputeNode(node), {.lease = lease->id()});
  if (!put.ok()) {
    (co_await lease->Revoke()).IgnoreError();
    co_return put.status();
  }
  Log()->info("compute node registered name={} vcpus={} memory_mib={} zone={} accelerator={}",
              node.name, capacity.vcpus, capacity.memory_mib, node.zone,
              accelerator_ == Accelerator::kKvm ? "kvm" : "tcg");

  lease_ = lease.get();
  fence_lifts_at_ = put->revision;
  TaskGroup following(ex);
  following.Spawn("compute mirror", mirror_.Run());
  following.Spawn("lease watch", WatchLease(stop));
  following.Spawn("console request mirror", console_requests_.Run());
  TaskGroup workers(ex);
  int64_t seen = 0;
  while (!stop.is_set()) {
    if (mirror_.loaded() && mirror_.revision() != seen) {
      seen = mirror_.revision();
      auto parsed = ParseComputeState(mirror_.kvs(), mirror_.revision());
      if (!parsed.ok()) {
        // Acting on the rest could stop an instance whose record is the
        // unreadable one: everything stays as it is until the records change.
        Log()->error("compute records at revision {} not applied, nothing changed: {}", seen,
                     parsed.status());
      } else {
        state_ = std::move(*parsed);
        if (observer_) {
          auto net = co_await vpcs_.Read();
          if (net.ok()) {
            observer_->Observe(*state_, *net);
          } else {
            Log()->warn("metadata not updated: the VPC records could not be read: {}",
                        net.status());
          }
        }
        if (fenced_ && state_->revision >= fence_lifts_at_) {
          // Registered again, and these records were read after: what they
          // bind here is still this node's (its record is back, so the
          // scheduler moves nothing away from it).
          fenced_ = false;
          Log()->warn("compute node {} registered again and caught up: fence lifted", node.name);
        }
        for (const auto& [id, e] : state_->instances) {
          if (!HeldHere(e.value) || runtimes_.contains(id)) continue;
          runtimes_[id] = std::make_unique<Runtime>();
          workers.Spawn("instance " + id, Worker(id));
        }
        SpawnOrphanWorkers(workers);
        wake_.Notify();
      }
    }
    if (lease->lost().is_set()) {
      // The scheduler may be restarting these guests elsewhere already.
      FenceGuests();
      // Registered again under a new lease (etcd was away longer than it).
      auto again = co_await etcd::LeaseKeeper::Start(client_, ttl);
      if (again.ok()) {
        auto p = co_await client_.Put(NodeKey(node.name), EncodeComputeNode(node),
                                      {.lease = (*again)->id()});
        if (p.ok()) {
          co_await lease->Stop();
          lease = std::move(*again);
          lease_ = lease.get();
          fence_lifts_at_ = p->revision;
          Log()->warn("compute node registered again name={}", node.name);
        } else {
          (co_await (*again)->Revoke()).IgnoreError();
        }
      }
    }
    for (const auto& [id, rt] : runtimes_) TrimConsoleLog(RunDir(id));
    if (state_ && console_requests_.loaded() && !console_requests_.kvs().empty()) {
      // A copy: the mirror changes its map while this waits on etcd.
      const std::map<std::string, etcd::KeyValue> requests = console_requests_.kvs();
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      Status answered = co_await console_.Answer(requests, *state_, now);
      if (!answered.ok()) Log()->warn("console requests not all answered: {}", answered);
    }
    co_await (stop.Wait() || mirror_.changed().Wait() || console_requests_.changed().Wait() ||
              lease->lost().Wait() || SleepFor(1s));
    mirror_.changed().Reset();
    console_requests_.changed().Reset();
  }
  // Guests run on: each worker lets go of its QEMU between steps.
  stopping_ = true;
  wake_.Notify();
  co_await workers.Close();
  following.CancelAll();
  co_await following.Close();
  // Not revoked: the record goes with the lease, so a node restarted within
  // the lease's TTL is not taken for a failed one (its guests run on).
  co_await lease->Stop();
  lease_ = nullptr;
  co_return Status::Ok();
}

Task<void> ComputeAgent::WatchLease(Event& stop) {
  // By this node's clock alone: an agent cut off from etcd hears nothing,
  // and its guests must be paused before the lease can lapse there.
  // (Written plainly: GCC 12 miscompiled the compact form of this loop.)
  for (;;) {
    const bool lapsing = lease_ != nullptr && !lease_->alive() && !fenced_;
    if (lapsing) {
      FenceGuests();
    }
    const bool slept = co_await SleepFor(100ms);
    if (!slept || stop.is_set()) break;
  }
}

void ComputeAgent::FenceGuests() {
  if (!fenced_) {
    fenced_ = true;
    fence_lifts_at_ = std::numeric_limits<int64_t>::max();  // until registered again
    Log()->warn("compute node {}: its lease may lapse; pausing every guest", options_.node);
  }
  std::vector<std::string> ids;
  for (const auto& [id, rt] : runtimes_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = runtimes_.find(id);
    if (it == runtimes_.end()) continue;
    Runtime& rt = *it->second;
    if (!rt.qemu || !rt.qemu->running() || rt.qemu->frozen()) continue;
    Status s = rt.qemu->Freeze();
    if (s.ok()) {
      Log()->warn("instance {} frozen (self-fence)", id);
    } else {
      Log()->error("instance {} could not be frozen: {}", id, s);
    }
  }
}

void ComputeAgent::SpawnOrphanWorkers(TaskGroup& workers) {
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(options_.run_dir, ec)) {
    const std::string id = d.path().filename().string();
    if (!id.starts_with("i-") || !d.is_directory() || runtimes_.contains(id)) continue;
    auto it = state_->instances.find(id);
    if (it != state_->instances.end() && HeldHere(it->second.value)) continue;
    runtimes_[id] = std::make_unique<Runtime>();
    workers.Spawn("leftover " + id, Worker(id));
  }
}

Task<void> ComputeAgent::Worker(std::string id) {
  Runtime& rt = *runtimes_.at(id);
  while (!stopping_) {
    Status s = co_await Reconcile(id, rt);
    if (rt.done) break;
    if (!s.ok() && s.message() != rt.last_error) Log()->warn("instance {}: {}", id, s);
    rt.last_error = s.ok() ? "" : s.message();
    if (stopping_) break;
    if (rt.qemu) {
      // Its events too: a migration's steps follow QEMU's MIGRATION and RESUME.
      co_await (wake_.Wait() || SleepFor(1s) || rt.qemu->exited().Wait() ||
                rt.qemu->changes().Wait());
    } else {
      co_await (wake_.Wait() || SleepFor(1s));
    }
  }
  if (rt.qemu) co_await rt.qemu->Release();
  rt.qemu.reset();
  runtimes_.erase(id);
}

Task<Status> ComputeAgent::SetStatus(const std::string& id, InstanceStatus status,
                                     std::string reason, std::function<void(Instance&)> also) {
  auto r = co_await store_.UpdateInstance(id, [&](Instance& i) -> Status {
    if (i.host != options_.node) return FailedPrecondition("{} is bound to {} now", id, i.host);
    i.status = status;
    i.status_reason = reason;
    i.status_changed_at = NowMillis();
    if (also) also(i);
    return Status::Ok();
  });
  if (!r.ok()) co_return r.status();
  Log()->info("instance {} {}{}{}", id, InstanceStatusName(status), reason.empty() ? "" : ": ",
              reason);
  auto now = co_await client_.Get(InstanceKey(id));
  if (now.ok() && !now->kvs.empty()) {
    auto rt = runtimes_.find(id);
    if (rt != runtimes_.end()) rt->second->written_at = now->kvs[0].mod_revision;
  }
  co_return Status::Ok();
}

Task<Status> ComputeAgent::Reconcile(const std::string& id, Runtime& rt) {
  if (fenced_) {
    // Nothing starts or resumes until the node holds its lease again.
    if (rt.qemu && rt.qemu->running()) TG_CO_RETURN_IF_ERROR(rt.qemu->Freeze());
    co_return Status::Ok();
  }
  if (rt.qemu && rt.qemu->frozen() && state_ && state_->revision >= rt.written_at) {
    auto it = state_->instances.find(id);
    const bool still_mine = it != state_->instances.end() &&
                            it->second.value.host == options_.node &&
                            it->second.value.incarnation == rt.incarnation;
    // Still this node's, at the same incarnation: it goes on where it was.
    // Otherwise the pass below ends it (Quit kills a frozen QEMU).
    if (still_mine) {
      TG_CO_RETURN_IF_ERROR(rt.qemu->Thaw());
      Log()->info("instance {} thawed", id);
    }
  }
  if (!state_ || state_->revision < rt.written_at) co_return Status::Ok();  // not seen yet
  const Instance* rec = nullptr;
  if (state_) {
    auto it = state_->instances.find(id);
    if (it != state_->instances.end()) rec = &it->second.value;
  }
  const bool mine = rec && rec->host == options_.node;
  if (rec && !mine && rec->migration && rec->migration->target == options_.node) {
    const Instance incoming = *rec;  // a copy, as below
    co_return co_await ReconcileIncoming(incoming, rt);
  }
  // A copy: the record may be replaced by a newer parse at any suspension.
  const std::optional<Instance> inst = mine ? std::optional<Instance>(*rec) : std::nullopt;

  // QEMU went (the guest powered off, QEMU crashed, or a stop finished).
  if (rt.qemu && !rt.qemu->running()) {
    const std::string reason = rt.qemu->exit_reason();
    const bool asked = reason == "stopped";
    co_await rt.qemu->Release();
    rt.qemu.reset();
    co_await ReleaseResources(rt, true);
    if (!asked && inst && !inst->deleting) {
      // Not restarted: the user decides (HA restart is a later feature).
      // The record read before this write is stale now: the next pass acts.
      // A migration it was in ends with it (the scheduler fails its event).
      co_return co_await SetStatus(id, InstanceStatus::kStopped, reason, [](Instance& i) {
        i.desired = PowerState::kStopped;
        i.migration.reset();
      });
    }
  }
  if (!inst) co_return co_await Clear(id, rt, rec != nullptr);
  if (rt.qemu && rt.incarnation != inst->incarnation) {
    // Moved away and back while this node was cut off: this QEMU's disks
    // have been written from elsewhere since. Started afresh next pass.
    Log()->warn("instance {}: QEMU of incarnation {} quit (the instance is at {})", id,
                rt.incarnation, inst->incarnation);
    TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Quit());
    co_await rt.qemu->Release();
    rt.qemu.reset();
    co_await ReleaseResources(rt, true);
    co_return Status::Ok();
  }
  if (!rt.adopt_tried) {
    Status adopted = co_await Adopt(*inst, rt);
    if (!adopted.ok()) {
      // A QEMU may still run that we cannot drive: starting another on the
      // same disks would be two guests on one volume. Tried again next pass.
      if (rt.qemu) co_await rt.qemu->Release();
      rt.qemu.reset();
      co_await ReleaseResources(rt, false);
      co_return adopted.Annotate("its QEMU could not be taken back");
    }
    rt.adopt_tried = true;
    if (!rt.qemu && !inst->deleting &&
        (inst->status == InstanceStatus::kRunning || inst->status == InstanceStatus::kStopping)) {
      // It ran, and its QEMU went while no agent watched: reported, not
      // restarted behind the user (as when it goes under a running agent).
      co_return co_await SetStatus(id, InstanceStatus::kStopped,
                                   "QEMU exited while the node agent was down",
                                   [](Instance& i) { i.desired = PowerState::kStopped; });
    }
  }
  if (inst->deleting) {
    if (rt.qemu)
      TG_CO_RETURN_IF_ERROR(co_await StopInstance(*inst, rt, inst->force_stop || rt.paused));
    co_await ReleaseResources(rt, true);
    TG_CO_RETURN_IF_ERROR(co_await store_.FinishDelete(id));
    Log()->info("instance {} deleted", id);
    rt.done = true;
    co_return Status::Ok();
  }
  if (inst->desired == PowerState::kRunning) {
    if (!rt.qemu) {
      Status started = co_await StartInstance(*inst, rt);
      if (!started.ok()) {
        if (rt.qemu) (void)co_await rt.qemu->Quit();
        if (rt.qemu) co_await rt.qemu->Release();
        rt.qemu.reset();
        co_await ReleaseResources(rt, true);
        // Stopped with the reason; the user starts it again when it is fixed
        // (no retry storm against a QEMU that cannot start).
        (void)co_await SetStatus(id, InstanceStatus::kStopped, "start failed: " + started.message(),
                                 [](Instance& i) { i.desired = PowerState::kStopped; });
        co_return started;
      }
      co_return Status::Ok();
    }
    if (rt.paused) {
      TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Resume());
      rt.paused = false;
      Log()->info("instance {} resumed", id);
    }
    if (inst->reboot_requests > inst->reboots_done) {
      TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Reset());
      const uint64_t done = inst->reboot_requests;
      TG_CO_RETURN_IF_ERROR(co_await SetStatus(id, InstanceStatus::kRunning, "",
                                               [done](Instance& i) { i.reboots_done = done; }));
    }
    // Its devices stay as they are while it migrates (the store refuses changes).
    if (inst->migration) co_return co_await ReconcileOutgoing(*inst, rt);
    TG_CO_RETURN_IF_ERROR(co_await HotPlug(*inst, rt));
    if (inst->status != InstanceStatus::kRunning)
      TG_CO_RETURN_IF_ERROR(co_await SetStatus(id, InstanceStatus::kRunning, ""));
    co_return Status::Ok();
  }
  // Desired: stopped.
  if (rt.qemu) {
    TG_CO_RETURN_IF_ERROR(co_await SetStatus(id, InstanceStatus::kStopping, ""));
    // A paused guest cannot answer the power button.
    TG_CO_RETURN_IF_ERROR(co_await StopInstance(*inst, rt, inst->force_stop || rt.paused));
    co_await rt.qemu->Release();
    rt.qemu.reset();
    co_await ReleaseResources(rt, true);
    co_return co_await SetStatus(id, InstanceStatus::kStopped, "");
  }
  if (inst->status != InstanceStatus::kStopped)
    co_return co_await SetStatus(id, InstanceStatus::kStopped, inst->status_reason);
  co_return Status::Ok();
}

Task<Result<QemuSpec>> ComputeAgent::AttachDevices(const Instance& inst, Runtime& rt,
                                                   const Migration* incoming) {
  if (inst.disks.empty()) co_return InvalidArgument("{} has no system disk", inst.id);
  QemuSpec spec{.name = inst.id,
                .binary = options_.qemu_binary,
                .accelerator = accelerator_,
                .vcpus = inst.resources.vcpus,
                .memory_mib = inst.resources.memory_mib,
                .run_dir = RunDir(inst.id),
                .serial = inst.id,
                .incoming = incoming != nullptr};
  std::error_code ec;
  std::filesystem::create_directories(spec.run_dir, ec);
  if (ec) co_return Internal("run directory {}: {}", spec.run_dir, ec.message());
  // A migration's destination puts each device where the source has it:
  // the guest's state refers to them by slot.
  auto slot_of = [&](const std::string& id) -> Result<int> {
    if (!incoming) return -1;
    auto it = incoming->pci_slots.find(id);
    if (it == incoming->pci_slots.end())
      return FailedPrecondition("the source did not say which PCI slot {} is in", id);
    return static_cast<int>(it->second);
  };
  for (size_t i = 0; i < inst.disks.size(); ++i) {
    const InstanceDisk& d = inst.disks[i];
    const std::string socket = DiskSocket(inst.id, d.id);
    TG_CO_ASSIGN_OR_RETURN(int slot, slot_of(d.id));
    Status attached;
    if (incoming) {
      attached = co_await disks_.AttachIncoming(d.volume, socket, DiskQueues(inst));
    } else {
      attached = co_await disks_.Attach(d.volume, socket, DiskQueues(inst));
    }
    TG_CO_RETURN_IF_ERROR(attached.Annotate("disk " + d.id));
    rt.disks[d.id] = d.volume;
    spec.disks.push_back({.id = d.id,
                          .socket = socket,
                          .queues = DiskQueues(inst),
                          .bootindex = i == 0 ? 1 : -1,
                          .pci_slot = slot});
  }
  if (!inst.nics.empty()) {
    TG_CO_ASSIGN_OR_RETURN(network::NetworkState net, co_await vpcs_.Read());
    for (const InstanceNic& n : inst.nics) {
      auto eni = net.interfaces.find(n.eni);
      if (eni == net.interfaces.end()) co_return NotFound("interface {} is gone", n.eni);
      TG_CO_ASSIGN_OR_RETURN(int slot, slot_of(n.eni));
      Result<std::string> socket = NotFound("no port for {}", n.eni);
      if (incoming) {
        socket = co_await nics_.PlugStandby(n.eni, 30s);
      } else {
        socket = co_await nics_.Plug(n.eni, 30s);
      }
      TG_CO_RETURN_IF_ERROR(socket.status());
      rt.nics.insert(n.eni);
      spec.nics.push_back({.id = n.eni,
                           .socket = *socket,
                           .mac = eni->second.value.mac.ToString(),
                           .pci_slot = slot});
    }
  }
  co_return spec;
}

Task<Status> ComputeAgent::StartInstance(const Instance& inst, Runtime& rt) {
  TG_CO_RETURN_IF_ERROR(co_await SetStatus(inst.id, InstanceStatus::kStarting, ""));
  TG_CO_ASSIGN_OR_RETURN(QemuSpec spec, co_await AttachDevices(inst, rt, nullptr));
  TG_CO_ASSIGN_OR_RETURN(
      rt.qemu, co_await QemuProcess::Launch(client_.executor(), spec, options_.start_timeout));
  // QEMU starts paused; it runs once it is known to be this incarnation's.
  rt.paused = true;
  rt.incarnation = inst.incarnation;
  TG_CO_RETURN_IF_ERROR(WriteIncarnation(spec.run_dir, inst.incarnation));
  if (!fenced_) {
    TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Resume());
    rt.paused = false;
  }
  const uint64_t reboots = inst.reboot_requests;
  co_return co_await SetStatus(inst.id, InstanceStatus::kRunning, "",
                               [reboots](Instance& i) { i.reboots_done = reboots; });
}

Task<Status> ComputeAgent::StopInstance(const Instance& inst, Runtime& rt, bool force) {
  if (!rt.qemu) co_return Status::Ok();
  Log()->info("instance {}: stopping ({})", inst.id, force ? "forced" : "ACPI power-down");
  // Not one conditional of two co_awaits: GCC 12 destroys its Status twice.
  if (force) co_return co_await rt.qemu->Quit();
  co_return co_await rt.qemu->PowerDown(options_.stop_grace);
}

Task<void> ComputeAgent::ReleaseResources(Runtime& rt, bool unplug_nics) {
  for (const auto& [disk, volume] : rt.disks) {
    Status s = co_await disks_.Detach(volume);
    if (!s.ok()) Log()->warn("detach of {} ({}): {}", disk, volume, s);
  }
  rt.disks.clear();
  if (unplug_nics) {
    for (const auto& eni : rt.nics) {
      Status s = co_await nics_.Unplug(eni);
      if (!s.ok()) Log()->warn("unplug of {}: {}", eni, s);
    }
  }
  rt.nics.clear();
}

Task<Status> ComputeAgent::HotPlug(const Instance& inst, Runtime& rt) {
  std::set<std::string> want_disks, want_nics;
  for (const auto& d : inst.disks) want_disks.insert(d.id);
  for (const auto& n : inst.nics) want_nics.insert(n.eni);
  for (const auto& d : inst.disks) {
    if (rt.disks.contains(d.id)) continue;
    const std::string socket = DiskSocket(inst.id, d.id);
    TG_CO_RETURN_IF_ERROR(co_await disks_.Attach(d.volume, socket, DiskQueues(inst)));
    rt.disks[d.id] = d.volume;
    // A named disk, not a braced temporary in the co_await: GCC 12 destroys
    // such a temporary twice (a double free of its strings).
    const QemuDisk disk{.id = d.id, .socket = socket, .queues = DiskQueues(inst), .bootindex = -1};
    Status plugged = co_await rt.qemu->PlugDisk(disk);
    if (!plugged.ok()) {
      rt.disks.erase(d.id);
      (void)co_await disks_.Detach(d.volume);
      co_return plugged.Annotate("hot-plug of disk " + d.id);
    }
    Log()->info("instance {}: disk {} plugged", inst.id, d.id);
  }
  for (auto it = rt.disks.begin(); it != rt.disks.end();) {
    if (want_disks.contains(it->first)) {
      ++it;
      continue;
    }
    TG_CO_RETURN_IF_ERROR(co_await rt.qemu->UnplugDisk(it->first, options_.unplug_timeout));
    TG_CO_RETURN_IF_ERROR(co_await disks_.Detach(it->second));
    Log()->info("instance {}: disk {} unplugged", inst.id, it->first);
    it = rt.disks.erase(it);
  }
  bool new_nics = false;
  for (const auto& n : want_nics) new_nics = new_nics || !rt.nics.contains(n);
  if (new_nics) {
    TG_CO_ASSIGN_OR_RETURN(network::NetworkState net, co_await vpcs_.Read());
    for (const auto& eni : want_nics) {
      if (rt.nics.contains(eni)) continue;
      auto rec = net.interfaces.find(eni);
      if (rec == net.interfaces.end()) co_return NotFound("interface {} is gone", eni);
      TG_CO_ASSIGN_OR_RETURN(std::string socket, co_await nics_.Plug(eni, 30s));
      rt.nics.insert(eni);
      const QemuNic nic{.id = eni, .socket = socket, .mac = rec->second.value.mac.ToString()};
      TG_CO_RETURN_IF_ERROR(co_await rt.qemu->PlugNic(nic, accelerator_));
      Log()->info("instance {}: interface {} plugged", inst.id, eni);
    }
  }
  for (auto it = rt.nics.begin(); it != rt.nics.end();) {
    if (want_nics.contains(*it)) {
      ++it;
      continue;
    }
    TG_CO_RETURN_IF_ERROR(co_await rt.qemu->UnplugNic(*it, options_.unplug_timeout));
    TG_CO_RETURN_IF_ERROR(co_await nics_.Unplug(*it));
    Log()->info("instance {}: interface {} unplugged", inst.id, *it);
    it = rt.nics.erase(it);
  }
  co_return Status::Ok();
}

Task<Status> ComputeAgent::Adopt(const Instance& inst, Runtime& rt) {
  auto q = co_await QemuProcess::Adopt(client_.executor(), inst.id, RunDir(inst.id), 10s);
  if (!q.ok()) co_return q.status().code() == ErrorCode::kNotFound ? Status::Ok() : q.status();
  rt.qemu = std::move(*q);
  rt.incarnation = ReadIncarnation(RunDir(inst.id));
  if (rt.incarnation != inst.incarnation) {
    Log()->warn("instance {}: the QEMU left here is of incarnation {}, the instance of {}: quit",
                inst.id, rt.incarnation, inst.incarnation);
    TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Quit());
    co_await rt.qemu->Release();
    rt.qemu.reset();
    co_return Status::Ok();
  }
  TG_CO_ASSIGN_OR_RETURN(std::string state, co_await rt.qemu->RunState());
  rt.paused = state != "running";  // resumed by the pass if it is to run
  // Serve again what QEMU has plugged (its vhost-user connections come back).
  TG_CO_ASSIGN_OR_RETURN(std::set<std::string> devices, co_await rt.qemu->Devices());
  for (const auto& d : inst.disks) {
    if (!devices.contains(d.id)) continue;
    TG_CO_RETURN_IF_ERROR(
        co_await disks_.Attach(d.volume, DiskSocket(inst.id, d.id), DiskQueues(inst)));
    rt.disks[d.id] = d.volume;
  }
  for (const auto& n : inst.nics) {
    if (!devices.contains(n.eni)) continue;
    auto plugged = co_await nics_.Plug(n.eni, 30s);
    if (!plugged.ok()) co_return plugged.status();
    rt.nics.insert(n.eni);
  }
  Log()->info("instance {}: QEMU pid {} taken back ({} disks, {} interfaces)", inst.id,
              rt.qemu->pid(), rt.disks.size(), rt.nics.size());
  co_return Status::Ok();
}

Task<Status> ComputeAgent::Clear(const std::string& id, Runtime& rt, bool record_exists) {
  // Deleted, or bound elsewhere now: nothing of it may run here.
  if (!rt.qemu && !rt.adopt_tried) {
    rt.adopt_tried = true;
    auto q = co_await QemuProcess::Adopt(client_.executor(), id, RunDir(id), 10s);
    if (q.ok()) {
      rt.qemu = std::move(*q);
    } else if (q.status().code() != ErrorCode::kNotFound) {
      rt.adopt_tried = false;  // a QEMU that does not answer yet: tried again
      co_return q.status().Annotate("a QEMU of " + id + " left here");
    }
  }
  if (rt.qemu) {
    Log()->warn("instance {} is not this node's: its QEMU pid {} quits", id, rt.qemu->pid());
    TG_CO_RETURN_IF_ERROR(co_await rt.qemu->Quit());
    co_await rt.qemu->Release();
    rt.qemu.reset();
  }
  // Interfaces are released only where this node still holds them.
  co_await ReleaseResources(rt, record_exists);
  std::error_code ec;
  std::filesystem::remove_all(RunDir(id), ec);
  if (ec) Log()->warn("run directory of {} not removed: {}", id, ec.message());
  rt.done = true;
  co_return Status::Ok();
}

}  // namespace tg::compute
