// Attaching an interface that exists on its own (the API's
// CreateNetworkInterface makes one; AttachNetworkInterface plugs it into an
// instance, DetachNetworkInterface takes it out again and keeps it), beside
// ComputeStore's hot-plug of interfaces made for the instance.
//
// The interface is claimed first: its record is rewritten to name the
// instance, conditioned on the revision that showed it free, so two
// attaches of one interface cannot both succeed; then the instance's record
// gets the NIC. If that fails the claim is released again.
// Thread-safety: belongs to the client's executor.
#pragma once

#include <string>

#include "compute/store/compute_store.h"
#include "etcd/client.h"
#include "network/controller/vpc_store.h"

namespace tg::compute {

// `eni` (vhost-user, attached to nothing, in the VPC and zone of the
// instance's primary interface) becomes the instance's next NIC; the agent
// plugs it. The instance must be Running or Stopped and not being deleted.
// FailedPrecondition: the interface is attached ("InvalidEniState: ..."),
// the instance's status refuses it ("IncorrectInstanceStatus: ..."), or it
// has the most NICs already. InvalidArgument: another VPC or zone.
Task<Status> AttachExistingInterface(etcd::Client& client, ComputeStore& compute,
                                     network::VpcStore& vpcs, std::string instance_id,
                                     std::string eni);

// The NIC (not the primary one) leaves the instance and the interface stays,
// naming no instance again. NotFound if the instance has no such NIC.
Task<Status> DetachInterfaceKeeping(etcd::Client& client, ComputeStore& compute,
                                    network::VpcStore& vpcs, std::string instance_id,
                                    std::string eni);

}  // namespace tg::compute
