// The compute side of the metadata service: answers the vSwitch's
// questions (network::MetadataSource) from a snapshot of this host's
// instances by interface id, which the node agent replaces whenever the
// records it watches change. The vSwitch names the interface a request
// came in on; the snapshot says whose it is, so a guest only ever reads
// its own instance's data. Thread-safe: the snapshot is swapped whole.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "compute/model/compute_state.h"
#include "compute/model/metadata.h"
#include "network/datapath/metadata_source.h"
#include "network/model/network_state.h"

namespace tg::compute {

class MetadataResponder : public network::MetadataSource {
 public:
  using Snapshot = std::map<std::string, InstanceMetadata, std::less<>>;  // by eni id
  // Replaces what is served: each instance under the id of every interface
  // that answers for it (an interface not in it gets 404s).
  void Update(Snapshot by_eni);
  std::optional<network::HttpResponse> Lookup(std::string_view eni_id,
                                              std::string_view path) override;

 private:
  std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ = std::make_shared<const Snapshot>();
};

// The snapshot of the instances bound to `host`, from one read of the
// records: each under the id of every interface it has (all answer as its
// primary one, as on ECS). An instance whose primary interface record is
// missing is left out (its guest gets 404s); one whose key pair is gone is
// served without keys.
MetadataResponder::Snapshot BuildMetadataSnapshot(const ComputeState& compute,
                                                  const network::NetworkState& network,
                                                  std::string_view host,
                                                  std::string_view region_id);

}  // namespace tg::compute
