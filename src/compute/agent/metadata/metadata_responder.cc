#include "compute/agent/metadata/metadata_responder.h"

namespace tg::compute {

void MetadataResponder::Update(Snapshot by_eni) {
  auto next = std::make_shared<const Snapshot>(std::move(by_eni));
  std::lock_guard lock(mu_);
  snapshot_ = std::move(next);
}

std::optional<network::HttpResponse> MetadataResponder::Lookup(std::string_view eni_id,
                                                               std::string_view path) {
  std::shared_ptr<const Snapshot> snapshot;
  {
    std::lock_guard lock(mu_);
    snapshot = snapshot_;
  }
  auto it = snapshot->find(eni_id);
  if (it == snapshot->end()) return std::nullopt;
  auto answer = LookupMetadata(it->second, path);
  if (!answer) return std::nullopt;
  return network::HttpResponse{.content_type = std::move(answer->content_type),
                               .body = std::move(answer->body)};
}

MetadataResponder::Snapshot BuildMetadataSnapshot(const ComputeState& compute,
                                                  const network::NetworkState& network,
                                                  std::string_view host,
                                                  std::string_view region_id) {
  MetadataResponder::Snapshot out;
  for (const auto& [id, entry] : compute.instances) {
    const Instance& i = entry.value;
    if (i.host != host || i.nics.empty()) continue;
    auto primary = network.interfaces.find(i.nics[0].eni);
    if (primary == network.interfaces.end()) continue;
    InstanceMetadata md{
        .instance = i, .eni = primary->second.value, .region_id = std::string(region_id)};
    if (auto key = compute.key_pairs.find(i.key_pair);
        !i.key_pair.empty() && key != compute.key_pairs.end())
      md.key_pair = key->second.value;
    for (const InstanceNic& nic : i.nics) out[nic.eni] = md;
  }
  return out;
}

}  // namespace tg::compute
