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

}  // namespace tg::compute
