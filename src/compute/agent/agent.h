// The compute agent of a node (`tiangong node --compute`): it registers the
// node's capacity and labels (on a lease), follows the instance records, and
// reconciles each instance bound to this node: disks attached to the host's
// block data plane and plugged into QEMU, interfaces bound to the host's
// vSwitch, QEMU started, stopped, reset and hot-plugged through QMP, and the
// status written back. docs/compute.md draws the loop.
//
// Live migration (migration.cc): the agent of the instance's host is the
// source, the agent of its migration's target the destination; each acts on
// the phase the other wrote (instance.h).
//
// QEMU runs outside the agent's lifetime: a stopping or killed agent leaves
// its guests running, and a restarted one adopts them from their run
// directories (pid file, QMP socket) and attaches their disks again (the
// guests' vhost-user connections reconnect).
//
// Self-fencing: the node's record lives on the agent's lease, and the
// scheduler restarts elsewhere the instances of a node whose record is gone.
// So before the lease can lapse (by this node's own clock: the keeper's
// margin) every guest here is frozen (SIGSTOP), and none runs again until
// the node is registered again and the records read after that say the
// instance is still this node's, at the same incarnation. A QEMU of another
// host's instance, or of an older incarnation, is quit and its run
// directory removed.
//
// Thread-safety: belongs to the client's executor.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "compute/agent/console_answer.h"
#include "compute/agent/planes.h"
#include "compute/agent/qemu_process.h"
#include "compute/model/compute_state.h"
#include "compute/qemu/qemu_command.h"
#include "compute/store/compute_store.h"
#include "etcd/client.h"
#include "etcd/lease.h"
#include "etcd/mirror.h"
#include "network/model/network_state.h"

namespace tg::compute {

struct AgentOptions {
  std::string node;         // this node's name (its instances' host)
  Resources capacity;       // 0: what this machine has
  std::string zone = "z1";  // labels for the scheduler
  std::string pod;
  std::string rack;
  std::string physical_host;                            // default: the node's name
  std::string run_dir = "/var/lib/tiangong/instances";  // one directory per instance
  std::string qemu_binary = "qemu-system-x86_64";
  std::optional<Accelerator> accelerator;          // unset: KVM if it runs a guest here, else TCG
  Duration stop_grace = std::chrono::seconds(30);  // ACPI power-down, then a hard stop
  Duration start_timeout = std::chrono::seconds(60);
  Duration unplug_timeout = std::chrono::seconds(30);
  int lease_ttl_seconds = 5;
  // Where this node's QEMUs take incoming live migrations (an address the
  // other nodes reach: the underlay's).
  std::string migration_address = "127.0.0.1";
  std::string region = "cn-tiangong";  // what the metadata service says
};

// Told the records each time they change (the metadata service answers
// from them): the compute records and the VPC records read after them.
class InstanceObserver {
 public:
  virtual ~InstanceObserver() = default;
  virtual void Observe(const ComputeState& compute, const network::NetworkState& network) = 0;
};

class ComputeAgent {
 public:
  ComputeAgent(etcd::Client& client, ComputeStore& store, network::VpcStore& vpcs, DiskPlane& disks,
               NicPlane& nics, AgentOptions options, InstanceObserver* observer = nullptr);
  ~ComputeAgent();

  // Runs until `stop` is set; then lets go of the guests (they run on).
  Task<Status> Run(Event& stop);

 private:
  struct Runtime;
  Task<void> Worker(std::string id);
  Task<Status> Reconcile(const std::string& id, Runtime& rt);
  Task<Status> StartInstance(const Instance& inst, Runtime& rt);
  // The disks attached and the interfaces plugged for a QEMU of `inst`, and
  // its spec; for a migration's destination (`incoming`), served but not
  // yet written (AttachIncoming, PlugStandby), in the source's PCI slots.
  Task<Result<QemuSpec>> AttachDevices(const Instance& inst, Runtime& rt,
                                       const Migration* incoming);
  // migration.cc: the two ends of a live migration.
  Task<Status> ReconcileOutgoing(const Instance& inst, Runtime& rt);
  Task<Status> ReconcileIncoming(const Instance& inst, Runtime& rt);
  Task<Status> StartIncoming(const Instance& inst, Runtime& rt);
  // Bound here, or migrating here.
  bool HeldHere(const Instance& i) const;
  Task<Status> StopInstance(const Instance& inst, Runtime& rt, bool force);
  Task<void> ReleaseResources(Runtime& rt, bool unplug_nics);
  Task<Status> HotPlug(const Instance& inst, Runtime& rt);
  Task<Status> Adopt(const Instance& inst, Runtime& rt);
  // A QEMU left in the run directory of an instance this node no longer
  // holds: quit, its resources released, the directory removed.
  Task<Status> Clear(const std::string& id, Runtime& rt, bool record_exists);
  // Pauses every guest here: the lease may lapse (see the file comment).
  void FenceGuests();
  Task<void> WatchLease(Event& stop);
  // Workers for run directories of instances not bound here.
  void SpawnOrphanWorkers(TaskGroup& workers);
  Task<Status> SetStatus(const std::string& id, InstanceStatus status, std::string reason,
                         std::function<void(Instance&)> also = nullptr);
  std::string RunDir(const std::string& id) const;
  std::string DiskSocket(const std::string& id, const std::string& disk) const;
  uint16_t DiskQueues(const Instance& inst) const;

  etcd::Client& client_;
  ComputeStore& store_;
  network::VpcStore& vpcs_;
  DiskPlane& disks_;
  NicPlane& nics_;
  AgentOptions options_;
  InstanceObserver* observer_;
  Accelerator accelerator_ = Accelerator::kTcg;
  etcd::Mirror mirror_;
  // GetInstanceConsoleOutput's requests, answered for this node's instances.
  etcd::Mirror console_requests_;
  ConsoleAnswerer console_;
  // The latest parse of the records: what each worker reconciles against.
  std::optional<ComputeState> state_;
  std::map<std::string, std::unique_ptr<Runtime>> runtimes_;
  Broadcast wake_;
  bool stopping_ = false;
  // The node's lease (owned by Run).
  etcd::LeaseKeeper* lease_ = nullptr;
  // Guests are paused: the lease lapsed or may have. Lifted once the mirror
  // holds the revision of the registration made after (fence_lifts_at_).
  bool fenced_ = false;
  int64_t fence_lifts_at_ = 0;
};

}  // namespace tg::compute
