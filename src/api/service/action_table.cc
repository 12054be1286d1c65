#include "api/service/action_table.h"

namespace tg::api {

const ActionSpec* ActionTable::Find(Product product, std::string_view name) const {
  auto it = actions_.find(std::pair<Product, std::string>(product, std::string(name)));
  return it == actions_.end() ? nullptr : &it->second;
}

std::vector<const ActionSpec*> ActionTable::All() const {
  std::vector<const ActionSpec*> all;
  for (const auto& [key, spec] : actions_) all.push_back(&spec);
  return all;
}

ActionTable BuildActionTable() {
  ActionTable table;
  RegisterEcsRegionActions(table);
  RegisterEcsInstanceActions(table);
  RegisterEcsDiskActions(table);
  RegisterEcsImageActions(table);
  RegisterEcsNetworkActions(table);
  RegisterEcsTagActions(table);
  RegisterEcsEventActions(table);
  RegisterVpcActions(table);
  RegisterVpcGatewayActions(table);
  return table;
}

}  // namespace tg::api
