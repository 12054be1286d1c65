#include "cli/compute_commands.h"

#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/config.h"
#include "compute/agent/agent.h"
#include "compute/agent/console_client.h"
#include "compute/agent/console_log.h"
#include "compute/model/host_view.h"
#include "compute/store/compute_store.h"

namespace tg::cli {

using namespace tg::compute;

struct ComputeCommands::Flags {
  CLI::App *image = nullptr, *type = nullptr, *keypair = nullptr, *instance = nullptr,
           *dset = nullptr, *host = nullptr;
  CLI::App *image_import, *image_list, *image_show, *image_delete;
  CLI::App *type_list, *type_add, *type_delete;
  CLI::App *key_import, *key_list, *key_delete;
  CLI::App *inst_create, *inst_list, *inst_show, *inst_start, *inst_stop, *inst_reboot,
      *inst_delete, *attach_disk, *detach_disk, *attach_nic, *detach_nic, *console_log, *console,
      *inst_events, *inst_failure, *inst_migrate;
  std::string instance_dir = compute::AgentOptions{}.run_dir;
  CLI::App *ds_create, *ds_list, *ds_delete;
  CLI::App *host_list, *host_drain, *host_undrain;
  // What the commands name.
  std::string id, name, file, target;
  bool force = false;
  // image import
  std::string platform, os_name, description, architecture = "x86_64";
  // type add
  uint32_t vcpus = 0;
  std::string memory;
  // instance create and attach-nic
  std::string type_name, image_name, vswitch, hostname, private_ip, system_disk_size, key_pair,
      user_data_file, deployment_set;
  std::vector<std::string> groups, data_disks;
  bool stopped = false, delete_with_instance = false;
  std::string on_host_failure;
  std::optional<uint32_t> restart_priority;
  // deployment-set create
  std::string domain = "host";
  // instance migrate
  compute::MigrateRequest migrate;
  bool no_auto_converge = false, cancel = false;
};

namespace {

void AddEtcd(CLI::App* c, std::string& etcd_list) {
  c->add_option("--etcd", etcd_list, "etcd client URLs, comma-separated")->capture_default_str();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument("cannot read {}", path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// User data is base64 in the records and the API; the command takes a file.
std::string Base64(std::string_view bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<uint8_t>(bytes[i + 2]);
    out += kDigits[(n >> 18) & 63];
    out += kDigits[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[n & 63] : '=';
  }
  return out;
}

std::string Or(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string Mib(uint64_t bytes) {
  return fmt::format("{}M", bytes >> 20);
}

// A record as JSON (its stored form), for show.
void PrintRecord(const std::string& encoded, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json j = nlohmann::json::parse(encoded, nullptr, false);
  j.erase("format");
  j.update(extra);
  std::cout << j.dump(2) << std::endl;
}

Status PrintImages(const ComputeState& st) {
  fmt::print("{:<24} {:<20} {:<13} {:>8} {:<8} {}\n", "ID", "NAME", "STATUS", "SIZE", "ARCH", "OS");
  for (const auto& [id, e] : st.images) {
    const Image& m = e.value;
    fmt::print("{:<24} {:<20} {:<13} {:>8} {:<8} {}\n", id, m.name, ImageStatusName(m.status),
               Mib(m.size), m.architecture, Or(m.os_name.empty() ? m.platform : m.os_name));
  }
  return Status::Ok();
}

Status PrintTypes(const ComputeState& st) {
  fmt::print("{:<24} {:>6} {:>10} {}\n", "NAME", "VCPUS", "MEMORY", "SOURCE");
  for (const auto& t : AllInstanceTypes(st.OperatorTypes()))
    fmt::print("{:<24} {:>6} {:>9}M {}\n", t.name, t.vcpus, t.memory_mib,
               t.builtin ? "built-in" : "operator");
  return Status::Ok();
}

Status PrintKeyPairs(const ComputeState& st) {
  fmt::print("{:<20} {:<49} {}\n", "NAME", "FINGERPRINT", "TYPE");
  for (const auto& [name, k] : st.key_pairs) {
    const std::string& key = k.value.public_key;
    fmt::print("{:<20} {:<49} {}\n", name, k.value.fingerprint, key.substr(0, key.find(' ')));
  }
  return Status::Ok();
}

Status PrintDeploymentSets(const ComputeState& st) {
  fmt::print("{:<25} {:<20} {:<7} {}\n", "ID", "NAME", "DOMAIN", "INSTANCES");
  for (const auto& [id, d] : st.deployment_sets) {
    size_t members = 0;
    for (const auto& [iid, i] : st.instances) members += i.value.deployment_set == id;
    fmt::print("{:<25} {:<20} {:<7} {}\n", id, d.value.name, d.value.domain, members);
  }
  return Status::Ok();
}

// Capacity from the nodes' own records, use from the scheduler's allocations.
Status PrintHosts(const ComputeState& st) {
  fmt::print("{:<16} {:<12} {:<10} {:<8} {:>11} {:>5} {:>15} {:>7} {:>9}\n", "NAME", "STATE",
             "ZONE", "RACK", "VCPUS USED", "FREE", "MEMORY USED", "FREE", "INSTANCES");
  const auto free_of = [](uint64_t c, uint64_t u) {
    return c >= u ? fmt::format("{}", c - u) : fmt::format("-{}", u - c);
  };
  for (const HostView& h : DescribeHosts(st)) {
    const Resources cap = h.node ? h.node->capacity : Resources{};
    std::string state = h.state;
    if (h.node && !h.node->schedulable) state += ",unschedulable";
    fmt::print("{:<16} {:<12} {:<10} {:<8} {:>11} {:>5} {:>15} {:>7} {:>9}\n", h.name, state,
               h.node ? h.node->zone : "-", Or(h.node ? h.node->rack : ""),
               fmt::format("{}/{}", h.used.vcpus, cap.vcpus), free_of(cap.vcpus, h.used.vcpus),
               fmt::format("{}M/{}M", h.used.memory_mib, cap.memory_mib),
               free_of(cap.memory_mib, h.used.memory_mib) + "M", h.instances);
  }
  return Status::Ok();
}

std::string IsoMillis(int64_t ms) {
  if (ms == 0) return "-";
  const std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

Status PrintEvents(const ComputeState& st, const std::string& id) {
  if (!st.instances.contains(id)) return NotFound("instance {} not found", id);
  fmt::print("{:<24} {:<24} {:<22} {:<10} {:<24} {:<10} {:<10} {}\n", "EVENT", "TIME", "TYPE",
             "STATUS", "FINISHED", "FROM", "TO", "REASON");
  for (const InstanceEvent& e : EventsOf(st, id)) {
    fmt::print("{:<24} {:<24} {:<22} {:<10} {:<24} {:<10} {:<10} {}\n", e.id,
               IsoMillis(e.created_at), e.type, e.status, IsoMillis(e.finished_at), Or(e.from_host),
               Or(e.to_host), e.reason);
  }
  return Status::Ok();
}

Status PrintInstances(const ComputeState& st, const network::NetworkState& net) {
  fmt::print("{:<24} {:<16} {:<9} {:<8} {:<20} {:<10} {:<12} {}\n", "ID", "NAME", "STATUS",
             "DESIRED", "TYPE", "ZONE", "HOST", "IP");
  for (const auto& [id, e] : st.instances) {
    const Instance& i = e.value;
    std::string ip = "-";
    if (!i.nics.empty())
      if (auto eni = net.interfaces.find(i.nics[0].eni); eni != net.interfaces.end())
        ip = eni->second.value.ip.ToString();
    std::string status(InstanceStatusName(i.status));
    if (i.deleting) status += "(deleting)";
    fmt::print("{:<24} {:<16} {:<9} {:<8} {:<20} {:<10} {:<12} {}\n", id, i.name, status,
               PowerStateName(i.desired), i.type, i.zone, Or(i.host), ip);
  }
  return Status::Ok();
}

// An instance as its record, with its interfaces' addresses beside it.
Status ShowInstance(const ComputeState& st, const network::NetworkState& net,
                    const std::string& id) {
  auto it = st.instances.find(id);
  if (it == st.instances.end()) return NotFound("no instance {}", id);
  nlohmann::json interfaces = nlohmann::json::array();
  for (const auto& n : it->second.value.nics) {
    auto eni = net.interfaces.find(n.eni);
    if (eni == net.interfaces.end()) {
      interfaces.push_back({{"eni", n.eni}, {"missing", true}});
      continue;
    }
    const network::NetworkInterface& e = eni->second.value;
    interfaces.push_back({{"eni", n.eni},
                          {"vswitch", e.vswitch_id},
                          {"vpc", e.vpc_id},
                          {"ip", e.ip.ToString()},
                          {"mac", e.mac.ToString()},
                          {"security_groups", e.security_groups}});
  }
  PrintRecord(EncodeInstance(it->second.value), {{"interfaces", interfaces}});
  return Status::Ok();
}

}  // namespace

ComputeCommands::ComputeCommands(CLI::App& app, std::string& etcd_list)
    : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  f.image = app.add_subcommand("image", "Images: disks instances boot from (snapshots)");
  f.image->require_subcommand(1);
  f.image_import = f.image->add_subcommand("import", "Import a qcow2 or raw disk file as an image");
  f.image_import->add_option("name", f.name, "Image name (unique)")->required();
  f.image_import->add_option("file", f.file, "A qcow2 or raw file readable here")->required();
  f.image_import->add_option("--platform", f.platform, "Debian, Ubuntu, ... (free text)");
  f.image_import->add_option("--os-name", f.os_name, "e.g. \"Debian 12 64-bit\"");
  f.image_import->add_option("--description", f.description, "Free text");
  f.image_import->add_option("--architecture", f.architecture, "x86_64 or arm64")
      ->capture_default_str();
  f.image_list = f.image->add_subcommand("list", "List images");
  f.image_show = f.image->add_subcommand("show", "An image as JSON");
  f.image_delete = f.image->add_subcommand("delete", "Delete an image (no instance may use it)");
  for (auto* c : {f.image_show, f.image_delete})
    c->add_option("id", f.id, "an image id (m-...) or name")->required();

  f.type = app.add_subcommand("type", "Instance types: vCPUs and memory");
  f.type->require_subcommand(1);
  f.type_list = f.type->add_subcommand("list", "List the built-in and the operator's types");
  f.type_add = f.type->add_subcommand("add", "Add an operator type");
  f.type_add->add_option("name", f.name, "ecs.<family>.<size>")->required();
  f.type_add->add_option("--vcpus", f.vcpus, "vCPUs, 1 to 256")->required();
  f.type_add->add_option("--memory", f.memory, "Memory, e.g. 2G (a multiple of 128M)")->required();
  f.type_delete = f.type->add_subcommand("delete", "Delete an operator type");
  f.type_delete->add_option("name", f.name, "Its name")->required();

  f.keypair = app.add_subcommand("keypair", "SSH key pairs instances get at first boot");
  f.keypair->require_subcommand(1);
  f.key_import = f.keypair->add_subcommand("import", "Import an OpenSSH public key");
  f.key_import->add_option("name", f.name, "Key pair name (unique)")->required();
  f.key_import->add_option("--public-key-file", f.file, "e.g. ~/.ssh/id_ed25519.pub")->required();
  f.key_list = f.keypair->add_subcommand("list", "List key pairs");
  f.key_delete = f.keypair->add_subcommand("delete", "Delete a key pair");
  f.key_delete->add_option("name", f.name, "Its name")->required();

  f.instance = app.add_subcommand("instance", "Instances: VMs on the cloud's disks and networks");
  f.instance->require_subcommand(1);
  f.inst_create = f.instance->add_subcommand("create", "Create an instance (prints its id first)");
  auto* c = f.inst_create;
  c->add_option("--type", f.type_name, "An instance type (tiangong type list)")->required();
  c->add_option("--image", f.image_name, "An image id (m-...) or name")->required();
  c->add_option("--vswitch", f.vswitch, "The primary interface's vSwitch (vsw-...): its zone")
      ->required();
  c->add_option("--sg", f.groups, "Security groups (sg-..., repeatable)");
  c->add_option("--name", f.name, "Instance name (default: its id)");
  c->add_option("--hostname", f.hostname, "The guest's hostname (default: its id)");
  c->add_option("--description", f.description, "Free text");
  c->add_option("--private-ip", f.private_ip, "Its address (default: the lowest free)");
  c->add_option("--system-disk-size", f.system_disk_size, "e.g. 2G (default: the image's size)");
  c->add_option("--data-disk", f.data_disks, "A new empty data disk of this size (repeatable)");
  c->add_option("--key-pair", f.key_pair, "A key pair's name");
  c->add_option("--user-data-file", f.user_data_file, "User data (cloud-init), at most 32 KiB");
  c->add_option("--deployment-set", f.deployment_set, "A deployment set (ds-...)");
  c->add_flag("--stopped", f.stopped, "Create it stopped");
  auto failure_options = [&f](CLI::App* c) {
    c->add_option("--on-host-failure", f.on_host_failure,
                  "AutoRecover (restart on another host, the default) or Stop");
    c->add_option("--restart-priority", f.restart_priority,
                  "0-100: higher ones restart first after a host failure");
  };
  failure_options(c);
  f.inst_list = f.instance->add_subcommand("list", "List instances");
  f.inst_show = f.instance->add_subcommand("show", "An instance as JSON");
  f.inst_start = f.instance->add_subcommand("start", "Start a stopped instance");
  f.inst_stop = f.instance->add_subcommand("stop", "Stop an instance (ACPI, then forced)");
  f.inst_reboot = f.instance->add_subcommand("reboot", "Reboot a running instance");
  f.inst_delete = f.instance->add_subcommand(
      "delete", "Delete an instance with its disks and interfaces (stopped, or with --force)");
  f.inst_events = f.instance->add_subcommand(
      "events", "What the cloud did to the instance (restarts after host failures, migrations)");
  f.inst_failure = f.instance->add_subcommand("set-failure-action",
                                              "What becomes of the instance when its host fails");
  failure_options(f.inst_failure);
  f.inst_migrate = f.instance->add_subcommand(
      "migrate", "Move a running instance to another host without stopping it (live migration)");
  f.inst_migrate->add_option("--to", f.migrate.target,
                             "A compute node (default: the scheduler's choice)");
  f.inst_migrate
      ->add_option("--downtime-ms", f.migrate.downtime_ms,
                   "The longest the guest may be paused at the switch-over")
      ->capture_default_str();
  f.inst_migrate
      ->add_option("--bandwidth-mib", f.migrate.bandwidth_mib,
                   "MiB/s the migration may use (0: unlimited)")
      ->capture_default_str();
  f.inst_migrate->add_flag("--no-auto-converge", f.no_auto_converge,
                           "Never slow a busy guest's vCPUs to let the migration finish");
  f.inst_migrate->add_flag("--cancel", f.cancel,
                           "Cancel the migration under way (the instance stays where it was)");
  for (auto* s : {f.inst_show, f.inst_start, f.inst_stop, f.inst_reboot, f.inst_delete,
                  f.inst_events, f.inst_failure, f.inst_migrate})
    s->add_option("id", f.id, "an instance id (i-...)")->required();
  f.inst_stop->add_flag("--force", f.force, "At once, without an ACPI power-down first");
  f.inst_reboot->add_flag("--force", f.force, "A hard reset");
  f.inst_delete->add_flag("--force", f.force, "Also while it runs (stopped at once)");
  f.attach_disk = f.instance->add_subcommand("attach-disk", "Attach a volume as a data disk");
  f.attach_disk->add_option("id", f.id, "an instance id (i-...)")->required();
  f.attach_disk->add_option("volume", f.target, "a volume name (tiangong volume list)")->required();
  f.attach_disk->add_flag("--delete-with-instance", f.delete_with_instance,
                          "Delete the volume when the instance is deleted");
  f.detach_disk = f.instance->add_subcommand("detach-disk", "Detach a data disk (it is kept)");
  f.detach_disk->add_option("id", f.id, "an instance id (i-...)")->required();
  f.detach_disk->add_option("disk", f.target, "a disk id (d-...)")->required();
  f.attach_nic = f.instance->add_subcommand("attach-nic", "Attach a new interface on a vSwitch");
  f.attach_nic->add_option("id", f.id, "an instance id (i-...)")->required();
  f.attach_nic->add_option("--vswitch", f.vswitch, "a vSwitch (vsw-...) of its VPC and zone")
      ->required();
  f.attach_nic->add_option("--sg", f.groups, "Security groups (sg-..., repeatable)");
  f.detach_nic =
      f.instance->add_subcommand("detach-nic", "Detach a secondary interface (it is deleted)");
  f.detach_nic->add_option("id", f.id, "an instance id (i-...)")->required();
  f.detach_nic->add_option("eni", f.target, "an interface id (eni-...)")->required();
  // The serial console, kept by the instance's host: run these there.
  f.console_log = f.instance->add_subcommand(
      "console-log", "What the instance printed on its serial console (the last 1 MiB)");
  f.console = f.instance->add_subcommand(
      "console", "Join the instance's serial console (one client at a time; Ctrl-] leaves)");
  for (auto* c : {f.console_log, f.console}) {
    c->add_option("id", f.id, "an instance id (i-...)")->required();
    c->add_option("--instance-dir", f.instance_dir,
                  "The host's instance directory (its node's --instance-dir)")
        ->capture_default_str();
  }

  f.dset = app.add_subcommand("deployment-set", "Deployment sets: instances on distinct hosts");
  f.dset->require_subcommand(1);
  f.ds_create = f.dset->add_subcommand("create", "Create a deployment set");
  f.ds_create->add_option("name", f.name, "A name")->required();
  f.ds_create->add_option("--domain", f.domain, "host or rack: what its instances never share")
      ->capture_default_str();
  f.ds_list = f.dset->add_subcommand("list", "List deployment sets");
  f.ds_delete = f.dset->add_subcommand("delete", "Delete a deployment set (no instance in it)");
  f.ds_delete->add_option("id", f.id, "a deployment set id (ds-...)")->required();

  f.host = app.add_subcommand("host", "Compute nodes");
  f.host->require_subcommand(1);
  f.host_list = f.host->add_subcommand("list", "Compute nodes: capacity, used, free, instances");
  f.host_drain = f.host->add_subcommand(
      "drain",
      "Take a node out for maintenance: it gets no new instances, its running ones migrate away "
      "(those that cannot restart elsewhere or stop, as their failure action says), its stopped "
      "ones start elsewhere next; `host list` shows draining, then drained");
  f.host_drain->add_option("name", f.name, "a compute node's name")->required();
  f.host_undrain = f.host->add_subcommand("undrain", "Give a drained node instances again");
  f.host_undrain->add_option("name", f.name, "a compute node's name")->required();

  for (auto* s :
       {f.image_import, f.image_list,  f.image_show,   f.image_delete, f.type_list,   f.type_add,
        f.type_delete,  f.key_import,  f.key_list,     f.key_delete,   f.inst_create, f.inst_list,
        f.inst_show,    f.inst_start,  f.inst_stop,    f.inst_reboot,  f.inst_delete, f.attach_disk,
        f.detach_disk,  f.attach_nic,  f.detach_nic,   f.ds_create,    f.ds_list,     f.ds_delete,
        f.host_list,    f.host_drain,  f.host_undrain, f.console_log,  f.console,     f.inst_events,
        f.inst_failure, f.inst_migrate})
    AddEtcd(s, etcd_list);
}

ComputeCommands::~ComputeCommands() = default;

bool ComputeCommands::chosen() const {
  const Flags& f = *flags_;
  return *f.image || *f.type || *f.keypair || *f.instance || *f.dset || *f.host;
}

Task<Status> ComputeCommands::Run(etcd::Client& client) {
  const Flags& f = *flags_;
  storage::VolumeStore volumes(client);
  network::VpcStore vpcs(client);
  ComputeStore store(client, volumes, vpcs);
  if (*f.image_import) {
    ImportImageRequest r{.name = f.name,
                         .file = f.file,
                         .description = f.description,
                         .platform = f.platform,
                         .os_name = f.os_name,
                         .architecture = f.architecture};
    TG_CO_ASSIGN_OR_RETURN(Image m, co_await store.ImportImage(r));
    fmt::print("{} {} {} bytes\n", m.id, ImageStatusName(m.status), m.size);
    co_return Status::Ok();
  }
  if (*f.image_delete) co_return co_await store.DeleteImage(f.id);
  if (*f.type_add) {
    TG_CO_ASSIGN_OR_RETURN(uint64_t memory, ParseSize(f.memory));
    InstanceType t{.name = f.name,
                   .family = f.name.substr(0, f.name.rfind('.')),
                   .vcpus = f.vcpus,
                   .memory_mib = memory >> 20};
    if (memory % (1 << 20) != 0) co_return InvalidArgument("--memory: whole MiB");
    co_return co_await store.AddInstanceType(t);
  }
  if (*f.type_delete) co_return co_await store.DeleteInstanceType(f.name);
  if (*f.key_import) {
    TG_CO_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(f.file));
    TG_CO_ASSIGN_OR_RETURN(KeyPair k, co_await store.ImportKeyPair(f.name, key));
    fmt::print("{} {}\n", k.name, k.fingerprint);
    co_return Status::Ok();
  }
  if (*f.key_delete) co_return co_await store.DeleteKeyPair(f.name);
  if (*f.inst_create) {
    CreateInstanceRequest r{.name = f.name,
                            .hostname = f.hostname,
                            .description = f.description,
                            .type = f.type_name,
                            .image = f.image_name,
                            .vswitch = f.vswitch,
                            .security_groups = f.groups,
                            .key_pair = f.key_pair,
                            .deployment_set = f.deployment_set,
                            .start = !f.stopped,
                            .restart_priority = f.restart_priority.value_or(0)};
    if (!f.on_host_failure.empty()) {
      TG_CO_ASSIGN_OR_RETURN(r.on_host_failure, ParseFailureAction(f.on_host_failure));
    }
    if (!f.private_ip.empty()) {
      TG_CO_ASSIGN_OR_RETURN(r.private_ip, network::ParseIpv4(f.private_ip));
    }
    if (!f.system_disk_size.empty()) {
      TG_CO_ASSIGN_OR_RETURN(r.system_disk_size, ParseSize(f.system_disk_size));
    }
    for (const auto& d : f.data_disks) {
      TG_CO_ASSIGN_OR_RETURN(uint64_t size, ParseSize(d));
      r.data_disks.push_back(size);
    }
    if (!f.user_data_file.empty()) {
      TG_CO_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(f.user_data_file));
      r.user_data = Base64(data);
    }
    TG_CO_ASSIGN_OR_RETURN(Instance i, co_await store.CreateInstance(r));
    fmt::print("{} {} {}\n", i.id, InstanceStatusName(i.status), i.nics[0].eni);
    co_return Status::Ok();
  }
  if (*f.inst_start) co_return co_await store.StartInstance(f.id);
  if (*f.inst_stop) co_return co_await store.StopInstance(f.id, f.force);
  if (*f.inst_reboot) co_return co_await store.RebootInstance(f.id, f.force);
  if (*f.inst_delete) co_return co_await store.DeleteInstance(f.id, f.force);
  if (*f.inst_failure) {
    std::optional<FailureAction> action;
    if (!f.on_host_failure.empty()) {
      TG_CO_ASSIGN_OR_RETURN(action, ParseFailureAction(f.on_host_failure));
    }
    co_return co_await store.SetFailureAction(f.id, action, f.restart_priority);
  }
  if (*f.host_drain) {
    TG_CO_ASSIGN_OR_RETURN(NodeDrain d, co_await store.DrainHost(f.name));
    fmt::print("{} draining\n", d.node);
    co_return Status::Ok();
  }
  if (*f.host_undrain) co_return co_await store.UndrainHost(f.name);
  if (*f.inst_migrate && f.cancel) co_return co_await store.CancelMigration(f.id);
  if (*f.inst_migrate) {
    MigrateRequest r = f.migrate;
    r.auto_converge = !f.no_auto_converge;
    TG_CO_ASSIGN_OR_RETURN(Migration m, co_await store.MigrateInstance(f.id, r));
    fmt::print("{} {} -> {}\n", m.event, m.source,
               m.target.empty() ? "(scheduler's choice)" : m.target);
    co_return Status::Ok();
  }
  if (*f.attach_disk) {
    TG_CO_ASSIGN_OR_RETURN(InstanceDisk d,
                           co_await store.AttachDisk(f.id, f.target, f.delete_with_instance));
    fmt::print("{} {}\n", d.id, d.volume);
    co_return Status::Ok();
  }
  if (*f.detach_disk) co_return co_await store.DetachDisk(f.id, f.target);
  if (*f.attach_nic) {
    TG_CO_ASSIGN_OR_RETURN(network::NetworkInterface e,
                           co_await store.AttachNewInterface(f.id, f.vswitch, f.groups));
    fmt::print("{} {} {}\n", e.id, e.ip.ToString(), e.mac.ToString());
    co_return Status::Ok();
  }
  if (*f.detach_nic) co_return co_await store.DetachInterface(f.id, f.target);
  if (*f.ds_create) {
    TG_CO_ASSIGN_OR_RETURN(DeploymentSet d, co_await store.CreateDeploymentSet(f.name, f.domain));
    fmt::print("{}\n", d.id);
    co_return Status::Ok();
  }
  if (*f.ds_delete) co_return co_await store.DeleteDeploymentSet(f.id);

  // Listings and shows: one read of the records.
  TG_CO_ASSIGN_OR_RETURN(ComputeState st, co_await store.Read());
  if (*f.image_list) co_return PrintImages(st);
  if (*f.image_show) {
    for (const auto& [id, e] : st.images) {
      if (id != f.id && e.value.name != f.id) continue;
      PrintRecord(EncodeImage(e.value));
      co_return Status::Ok();
    }
    co_return NotFound("no image {}", f.id);
  }
  if (*f.type_list) co_return PrintTypes(st);
  if (*f.key_list) co_return PrintKeyPairs(st);
  if (*f.ds_list) co_return PrintDeploymentSets(st);
  if (*f.host_list) co_return PrintHosts(st);
  if (*f.inst_events) co_return PrintEvents(st, f.id);
  TG_CO_ASSIGN_OR_RETURN(network::NetworkState net, co_await vpcs.Read());
  if (*f.inst_show) co_return ShowInstance(st, net, f.id);
  if (*f.console_log || *f.console) {
    auto it = st.instances.find(f.id);
    if (it == st.instances.end()) co_return NotFound("instance {} not found", f.id);
    const std::string run_dir = f.instance_dir + "/" + f.id;
    if (!std::filesystem::exists(run_dir)) {
      co_return NotFound("no console of {} here: it is kept by its host, {}", f.id,
                         it->second.value.host.empty() ? "(none yet)" : it->second.value.host);
    }
    if (*f.console_log) {
      std::cout << compute::ReadConsoleTail(run_dir) << std::flush;
      co_return Status::Ok();
    }
    std::cerr << "connected to " << f.id << "'s console; Ctrl-] leaves" << std::endl;
    co_return compute::JoinConsole(run_dir, STDIN_FILENO, STDOUT_FILENO);
  }
  co_return PrintInstances(st, net);
}

}  // namespace tg::cli
