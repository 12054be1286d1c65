#include "compute/model/records.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "base/json_record.h"

namespace tg::compute {

using nlohmann::json;

std::string TypeKey(std::string_view name) {
  return fmt::format("{}{}", kTypesPrefix, name);
}
std::string ImageKey(std::string_view id) {
  return fmt::format("{}{}", kImagesPrefix, id);
}
std::string KeyPairKey(std::string_view name) {
  return fmt::format("{}{}", kKeyPairsPrefix, name);
}
std::string InstanceKey(std::string_view id) {
  return fmt::format("{}{}", kInstancesPrefix, id);
}
std::string DeploymentSetKey(std::string_view id) {
  return fmt::format("{}{}", kDeploymentSetsPrefix, id);
}
std::string NodeKey(std::string_view name) {
  return fmt::format("{}{}", kNodesPrefix, name);
}
std::string AllocationKey(std::string_view node) {
  return fmt::format("{}{}", kAllocationsPrefix, node);
}
std::string EventKey(std::string_view instance, std::string_view event) {
  return fmt::format("{}{}/{}", kEventsPrefix, instance, event);
}
std::string NodeLossKey(std::string_view node) {
  return fmt::format("{}{}", kNodeLossesPrefix, node);
}

std::string DrainKey(std::string_view node) {
  return fmt::format("{}{}", kDrainsPrefix, node);
}

namespace {

// Every record this binary writes says which format it is. Text that is not
// UTF-8 (which the stores refuse before writing) is replaced, never thrown on.
std::string Stamped(json j) {
  StampRecordFormat(j);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Reads the fields of one JSON object, naming the field in every error
// ("disks[1].size is missing"). Every number of these records is unsigned
// and read wide: a negative or too large one would wrap into range.
class Fields {
 public:
  Fields(const json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {
    if (!j_.is_object()) Fail("", "is not an object");
  }

  std::string Str(std::string_view key) const { return StrOr(key, std::nullopt); }
  std::string OptStr(std::string_view key) const { return StrOr(key, std::string()); }
  // The field, or `missing` when it is not there.
  std::string StrOr(std::string_view key, std::optional<std::string> missing) const {
    const auto it = j_.find(key);
    if (it == j_.end()) {
      if (missing) return *missing;
      Fail(key, "is missing");
    }
    if (!it->is_string()) Fail(key, "is not a string");
    return it->get<std::string>();
  }

  // A field that must be there (of any type).
  const json& At(std::string_view key) const {
    const auto it = j_.find(key);
    if (it == j_.end()) Fail(key, "is missing");
    return *it;
  }

  bool Bool(std::string_view key) const {
    const json& v = At(key);
    if (!v.is_boolean()) Fail(key, "is not a boolean");
    return v.get<bool>();
  }

  template <typename T>
  T Unsigned(std::string_view key, std::optional<T> missing = std::nullopt) const {
    const auto it = j_.find(key);
    if (it == j_.end()) {
      if (missing) return *missing;
      Fail(key, "is missing");
    }
    if (!it->is_number_unsigned() || it->get<uint64_t>() > std::numeric_limits<T>::max())
      Fail(key, "is not an unsigned number in range");
    return static_cast<T>(it->get<uint64_t>());
  }

  const json& List(std::string_view key) const {
    const json& v = At(key);
    if (!v.is_array()) Fail(key, "is not a list");
    return v;
  }

  // A map field, empty if missing.
  const json& OptObject(std::string_view key) const {
    static const json empty = json::object();
    const auto it = j_.find(key);
    if (it == j_.end()) return empty;
    if (!it->is_object()) Fail(key, "is not an object");
    return *it;
  }

  std::string Name(std::string_view key) const { return prefix_ + std::string(key); }

  [[noreturn]] void Fail(std::string_view key, std::string_view why) const {
    std::string name = prefix_ + std::string(key);
    if (key.empty() && !name.empty() && name.back() == '.') name.pop_back();
    throw std::invalid_argument(fmt::format("{}{}{}", name, name.empty() ? "" : " ", why));
  }

 private:
  const json& j_;
  std::string prefix_;
};

json EncodeResources(const Resources& r) {
  return {{"vcpus", r.vcpus}, {"memory_mib", r.memory_mib}};
}

Resources DecodeResources(const json& j, std::string prefix) {
  const Fields f(j, std::move(prefix));
  return {f.Unsigned<uint32_t>("vcpus"), f.Unsigned<uint64_t>("memory_mib")};
}

// The elements of a list field, each an object read with its own prefix.
template <typename Each>
void ForEachObject(const Fields& f, std::string_view key, Each each) {
  size_t i = 0;
  for (const json& e : f.List(key)) each(Fields(e, fmt::format("{}[{}].", f.Name(key), i++)));
}

std::map<std::string, std::string> DecodeTags(const Fields& f) {
  std::map<std::string, std::string> tags;
  for (const auto& [k, v] : f.OptObject("tags").items()) {
    if (!v.is_string()) f.Fail(fmt::format("tags.{}", k), "is not a string");
    tags[k] = v.get<std::string>();
  }
  return tags;
}

}  // namespace

std::string EncodeInstanceType(const InstanceType& v) {
  return Stamped(
      {{"name", v.name}, {"family", v.family}, {"vcpus", v.vcpus}, {"memory_mib", v.memory_mib}});
}

Result<InstanceType> DecodeInstanceType(std::string_view text) {
  return DecodeJsonRecord<InstanceType>(text, "instance type", [](const json& j, InstanceType& v) {
    const Fields f(j, "");
    v.name = f.Str("name");
    v.family = f.Str("family");
    v.vcpus = f.Unsigned<uint32_t>("vcpus");
    v.memory_mib = f.Unsigned<uint64_t>("memory_mib");
    v.builtin = false;  // a record is the operator's
    if (Status s = ValidateInstanceType(v); !s.ok()) throw std::invalid_argument(s.message());
  });
}

std::string EncodeImage(const Image& v) {
  return Stamped({{"id", v.id},
                  {"name", v.name},
                  {"description", v.description},
                  {"os_type", v.os_type},
                  {"platform", v.platform},
                  {"os_name", v.os_name},
                  {"architecture", v.architecture},
                  {"size", v.size},
                  {"status", ImageStatusName(v.status)},
                  {"status_reason", v.status_reason},
                  {"snapshot", v.snapshot},
                  {"created_at", v.created_at}});
}

Result<Image> DecodeImage(std::string_view text) {
  return DecodeJsonRecord<Image>(text, "image", [](const json& j, Image& v) {
    const Fields f(j, "");
    v.id = f.Str("id");
    v.name = f.Str("name");
    v.description = f.OptStr("description");
    v.os_type = f.Str("os_type");
    v.platform = f.OptStr("platform");
    v.os_name = f.OptStr("os_name");
    v.architecture = f.Str("architecture");
    v.size = f.Unsigned<uint64_t>("size");
    v.status = ValueOrThrow(ParseImageStatus(f.Str("status")));
    v.status_reason = f.OptStr("status_reason");
    v.snapshot = f.Str("snapshot");
    v.created_at = f.Unsigned<int64_t>("created_at");
  });
}

std::string EncodeKeyPair(const KeyPair& v) {
  return Stamped({{"name", v.name},
                  {"public_key", v.public_key},
                  {"fingerprint", v.fingerprint},
                  {"created_at", v.created_at}});
}

Result<KeyPair> DecodeKeyPair(std::string_view text) {
  return DecodeJsonRecord<KeyPair>(text, "key pair", [](const json& j, KeyPair& v) {
    const Fields f(j, "");
    v.name = f.Str("name");
    v.public_key = f.Str("public_key");
    v.fingerprint = f.Str("fingerprint");
    v.created_at = f.Unsigned<int64_t>("created_at");
  });
}

json EncodeMigration(const Migration& m) {
  json slots = json::object();
  for (const auto& [id, slot] : m.pci_slots) slots[id] = slot;
  return {{"event", m.event},
          {"source", m.source},
          {"target", m.target},
          {"phase", MigrationPhaseName(m.phase)},
          {"pci_slots", slots},
          {"incoming", m.incoming},
          {"downtime_ms", m.downtime_ms},
          {"bandwidth_mib", m.bandwidth_mib},
          {"auto_converge", m.auto_converge},
          {"requested_at", m.requested_at}};
}

Migration DecodeMigration(const Fields& f) {
  Migration m;
  m.event = f.Str("event");
  m.source = f.Str("source");
  m.target = f.OptStr("target");
  m.phase = ValueOrThrow(ParseMigrationPhase(f.Str("phase")));
  for (const auto& [id, slot] : f.OptObject("pci_slots").items()) {
    if (!slot.is_number_unsigned() || slot.get<uint64_t>() > 31)
      f.Fail("pci_slots." + id, "is not a PCI slot (0-31)");
    m.pci_slots[id] = slot.get<uint32_t>();
  }
  m.incoming = f.OptStr("incoming");
  m.downtime_ms = f.Unsigned<uint32_t>("downtime_ms");
  if (m.downtime_ms == 0 || m.downtime_ms > kMaxMigrationDowntimeMs)
    f.Fail("downtime_ms", fmt::format("is not in 1-{}", kMaxMigrationDowntimeMs));
  m.bandwidth_mib = f.Unsigned<uint64_t>("bandwidth_mib");
  m.auto_converge = f.Bool("auto_converge");
  m.requested_at = f.Unsigned<int64_t>("requested_at");
  return m;
}

std::string EncodeInstance(const Instance& v) {
  json disks = json::array();
  for (const auto& d : v.disks) {
    disks.push_back({{"id", d.id},
                     {"volume", d.volume},
                     {"size", d.size},
                     {"system", d.system},
                     {"delete_with_instance", d.delete_with_instance}});
  }
  json nics = json::array();
  for (const auto& n : v.nics) nics.push_back({{"eni", n.eni}});
  json record = {{"id", v.id},
                 {"name", v.name},
                 {"hostname", v.hostname},
                 {"description", v.description},
                 {"type", v.type},
                 {"resources", EncodeResources(v.resources)},
                 {"image", v.image},
                 {"zone", v.zone},
                 {"disks", disks},
                 {"nics", nics},
                 {"key_pair", v.key_pair},
                 {"user_data", v.user_data},
                 {"deployment_set", v.deployment_set},
                 {"tags", v.tags},
                 {"created_at", v.created_at},
                 {"on_host_failure", FailureActionName(v.on_host_failure)},
                 {"restart_priority", v.restart_priority},
                 {"desired", PowerStateName(v.desired)},
                 {"force_stop", v.force_stop},
                 {"reboot_requests", v.reboot_requests},
                 {"deleting", v.deleting},
                 {"host", v.host},
                 {"incarnation", v.incarnation},
                 {"status", InstanceStatusName(v.status)},
                 {"status_reason", v.status_reason},
                 {"status_changed_at", v.status_changed_at},
                 {"reboots_done", v.reboots_done}};
  if (v.migration) record["migration"] = EncodeMigration(*v.migration);
  return Stamped(std::move(record));
}

Result<Instance> DecodeInstance(std::string_view text) {
  return DecodeJsonRecord<Instance>(text, "instance", [](const json& j, Instance& v) {
    const Fields f(j, "");
    v.id = f.Str("id");
    v.name = f.OptStr("name");
    v.hostname = f.OptStr("hostname");
    v.description = f.OptStr("description");
    v.type = f.Str("type");
    v.resources = DecodeResources(f.At("resources"), "resources.");
    v.image = f.Str("image");
    v.zone = f.Str("zone");
    ForEachObject(f, "disks", [&](const Fields& d) {
      v.disks.push_back({d.Str("id"), d.Str("volume"), d.Unsigned<uint64_t>("size"),
                         d.Bool("system"), d.Bool("delete_with_instance")});
    });
    ForEachObject(f, "nics", [&](const Fields& n) { v.nics.push_back({n.Str("eni")}); });
    v.key_pair = f.OptStr("key_pair");
    v.user_data = f.OptStr("user_data");
    v.deployment_set = f.OptStr("deployment_set");
    v.tags = DecodeTags(f);
    v.created_at = f.Unsigned<int64_t>("created_at");
    // Records made before host-failure recovery have neither field.
    v.on_host_failure = ValueOrThrow(ParseFailureAction(
        f.StrOr("on_host_failure", std::string(FailureActionName(FailureAction::kRestart)))));
    v.restart_priority = f.Unsigned<uint32_t>("restart_priority", 0u);
    if (v.restart_priority > kMaxRestartPriority)
      f.Fail("restart_priority", fmt::format("is above {}", kMaxRestartPriority));
    v.desired = ValueOrThrow(ParsePowerState(f.Str("desired")));
    v.force_stop = f.Bool("force_stop");
    v.reboot_requests = f.Unsigned<uint64_t>("reboot_requests");
    v.deleting = f.Bool("deleting");
    v.host = f.OptStr("host");
    v.incarnation = f.Unsigned<uint64_t>("incarnation", 0u);
    v.status = ValueOrThrow(ParseInstanceStatus(f.Str("status")));
    v.status_reason = f.OptStr("status_reason");
    v.status_changed_at = f.Unsigned<int64_t>("status_changed_at");
    v.reboots_done = f.Unsigned<uint64_t>("reboots_done");
    if (j.contains("migration"))
      v.migration = DecodeMigration(Fields(f.At("migration"), "migration."));
  });
}

std::string EncodeDeploymentSet(const DeploymentSet& v) {
  return Stamped(
      {{"id", v.id}, {"name", v.name}, {"domain", v.domain}, {"created_at", v.created_at}});
}

Result<DeploymentSet> DecodeDeploymentSet(std::string_view text) {
  return DecodeJsonRecord<DeploymentSet>(
      text, "deployment set", [](const json& j, DeploymentSet& v) {
        const Fields f(j, "");
        v.id = f.Str("id");
        v.name = f.OptStr("name");
        v.domain = f.Str("domain");
        if (v.domain != "host" && v.domain != "rack")
          f.Fail("domain", fmt::format("'{}' is not host or rack", v.domain));
        v.created_at = f.Unsigned<int64_t>("created_at");
      });
}

std::string EncodeComputeNode(const ComputeNode& v) {
  return Stamped({{"name", v.name},
                  {"capacity", EncodeResources(v.capacity)},
                  {"zone", v.zone},
                  {"pod", v.pod},
                  {"rack", v.rack},
                  {"host", v.host},
                  {"schedulable", v.schedulable}});
}

Result<ComputeNode> DecodeComputeNode(std::string_view text) {
  return DecodeJsonRecord<ComputeNode>(text, "compute node", [](const json& j, ComputeNode& v) {
    const Fields f(j, "");
    v.name = f.Str("name");
    v.capacity = DecodeResources(f.At("capacity"), "capacity.");
    v.zone = f.Str("zone");
    v.pod = f.OptStr("pod");
    v.rack = f.OptStr("rack");
    v.host = f.Str("host");
    v.schedulable = f.Bool("schedulable");
  });
}

std::string EncodeNodeAllocation(const NodeAllocation& v) {
  json instances = json::object();
  for (const auto& [id, r] : v.instances) instances[id] = EncodeResources(r);
  return Stamped({{"node", v.node}, {"instances", instances}});
}

Result<NodeAllocation> DecodeNodeAllocation(std::string_view text) {
  return DecodeJsonRecord<NodeAllocation>(
      text, "node allocation", [](const json& j, NodeAllocation& v) {
        const Fields f(j, "");
        v.node = f.Str("node");
        for (const auto& [id, r] : f.OptObject("instances").items())
          v.instances[id] = DecodeResources(r, fmt::format("instances.{}.", id));
      });
}

std::string EncodeInstanceEvent(const InstanceEvent& v) {
  return Stamped({{"id", v.id},
                  {"instance", v.instance},
                  {"type", v.type},
                  {"status", v.status},
                  {"reason", v.reason},
                  {"from_host", v.from_host},
                  {"to_host", v.to_host},
                  {"incarnation", v.incarnation},
                  {"created_at", v.created_at},
                  {"finished_at", v.finished_at},
                  {"migration_total_ms", v.migration_total_ms},
                  {"migration_downtime_ms", v.migration_downtime_ms},
                  {"migration_transferred_bytes", v.migration_transferred_bytes}});
}

Result<InstanceEvent> DecodeInstanceEvent(std::string_view text) {
  return DecodeJsonRecord<InstanceEvent>(
      text, "instance event", [](const json& j, InstanceEvent& v) {
        const Fields f(j, "");
        v.id = f.Str("id");
        v.instance = f.Str("instance");
        v.type = f.Str("type");
        v.status = f.Str("status");
        v.reason = f.OptStr("reason");
        v.from_host = f.OptStr("from_host");
        v.to_host = f.OptStr("to_host");
        v.incarnation = f.Unsigned<uint64_t>("incarnation");
        v.created_at = f.Unsigned<int64_t>("created_at");
        v.finished_at = f.Unsigned<int64_t>("finished_at");
        v.migration_total_ms = f.Unsigned<uint64_t>("migration_total_ms", 0u);
        v.migration_downtime_ms = f.Unsigned<uint64_t>("migration_downtime_ms", 0u);
        v.migration_transferred_bytes = f.Unsigned<uint64_t>("migration_transferred_bytes", 0u);
      });
}

std::string EncodeNodeLoss(const NodeLoss& v) {
  return Stamped({{"node", v.node},
                  {"lost_at", v.lost_at},
                  {"returned_at", v.returned_at},
                  {"losses", v.losses}});
}

Result<NodeLoss> DecodeNodeLoss(std::string_view text) {
  return DecodeJsonRecord<NodeLoss>(text, "node loss", [](const json& j, NodeLoss& v) {
    const Fields f(j, "");
    v.node = f.Str("node");
    v.lost_at = f.Unsigned<int64_t>("lost_at");
    v.returned_at = f.Unsigned<int64_t>("returned_at");
    v.losses = f.Unsigned<uint32_t>("losses");
  });
}

std::string EncodeNodeDrain(const NodeDrain& v) {
  return Stamped({{"node", v.node}, {"requested_at", v.requested_at}});
}

Result<NodeDrain> DecodeNodeDrain(std::string_view text) {
  return DecodeJsonRecord<NodeDrain>(text, "node drain", [](const json& j, NodeDrain& v) {
    const Fields f(j, "");
    v.node = f.Str("node");
    v.requested_at = f.Unsigned<int64_t>("requested_at");
  });
}

}  // namespace tg::compute
