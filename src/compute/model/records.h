// The compute records in etcd, under /tiangong/compute/ (docs/formats/
// compute-keys.md): their keys and their JSON. Decoding is strict (see
// base/json_record.h): a record that does not decode is an error naming it.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "compute/model/image.h"
#include "compute/model/instance.h"
#include "compute/model/instance_event.h"
#include "compute/model/instance_type.h"
#include "compute/model/key_pair.h"
#include "compute/model/node.h"

namespace tg::compute {

inline constexpr std::string_view kComputePrefix = "/tiangong/compute/";
inline constexpr std::string_view kTypesPrefix = "/tiangong/compute/types/";
inline constexpr std::string_view kImagesPrefix = "/tiangong/compute/images/";
inline constexpr std::string_view kKeyPairsPrefix = "/tiangong/compute/keypairs/";
inline constexpr std::string_view kInstancesPrefix = "/tiangong/compute/instances/";
inline constexpr std::string_view kDeploymentSetsPrefix = "/tiangong/compute/deployment-sets/";
// On the node's lease.
inline constexpr std::string_view kNodesPrefix = "/tiangong/compute/nodes/";
inline constexpr std::string_view kAllocationsPrefix = "/tiangong/compute/allocations/";
// events/<instance>/<event id>
inline constexpr std::string_view kEventsPrefix = "/tiangong/compute/events/";
inline constexpr std::string_view kNodeLossesPrefix = "/tiangong/compute/lost-nodes/";
inline constexpr std::string_view kDrainsPrefix = "/tiangong/compute/drains/";

std::string TypeKey(std::string_view name);
std::string ImageKey(std::string_view id);
std::string KeyPairKey(std::string_view name);
std::string InstanceKey(std::string_view id);
std::string DeploymentSetKey(std::string_view id);
std::string NodeKey(std::string_view name);
std::string AllocationKey(std::string_view node);
std::string EventKey(std::string_view instance, std::string_view event);
std::string NodeLossKey(std::string_view node);
std::string DrainKey(std::string_view node);

std::string EncodeInstanceType(const InstanceType& v);
Result<InstanceType> DecodeInstanceType(std::string_view text);
std::string EncodeImage(const Image& v);
Result<Image> DecodeImage(std::string_view text);
std::string EncodeKeyPair(const KeyPair& v);
Result<KeyPair> DecodeKeyPair(std::string_view text);
std::string EncodeInstance(const Instance& v);
Result<Instance> DecodeInstance(std::string_view text);
std::string EncodeDeploymentSet(const DeploymentSet& v);
Result<DeploymentSet> DecodeDeploymentSet(std::string_view text);
std::string EncodeComputeNode(const ComputeNode& v);
Result<ComputeNode> DecodeComputeNode(std::string_view text);
std::string EncodeNodeAllocation(const NodeAllocation& v);
Result<NodeAllocation> DecodeNodeAllocation(std::string_view text);
std::string EncodeInstanceEvent(const InstanceEvent& v);
Result<InstanceEvent> DecodeInstanceEvent(std::string_view text);
std::string EncodeNodeLoss(const NodeLoss& v);
Result<NodeLoss> DecodeNodeLoss(std::string_view text);
std::string EncodeNodeDrain(const NodeDrain& v);
Result<NodeDrain> DecodeNodeDrain(std::string_view text);

}  // namespace tg::compute
