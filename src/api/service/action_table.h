// The actions this endpoint answers, per product, each a parse step that
// turns the parameters into a typed command (refusing what is missing,
// malformed or unknown before anything runs) and a run step that executes
// the command through the stores. Each subsystem's handler file has one
// Register...() function that adds its actions.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "api/core/error.h"
#include "api/core/json.h"
#include "api/core/params.h"
#include "api/core/request.h"
#include "api/service/context.h"

namespace tg::api {

// The parsed command, ready to run (or to be dropped by DryRun).
using PreparedAction = std::function<Task<ApiResult<Json>>(CallContext&)>;

struct ActionSpec {
  Product product;
  std::string name;
  // Parses and checks every parameter (Params::Finish included).
  std::function<ApiResult<PreparedAction>(Params&)> prepare;
};

class ActionTable {
 public:
  // `parse` reads the command; `run` executes it. The body `run` returns is
  // the reply without RequestId.
  template <typename Command>
  void Add(Product product, std::string name, ApiResult<Command> (*parse)(Params&),
           Task<ApiResult<Json>> (*run)(CallContext&, Command)) {
    ActionSpec spec{product, name, [parse, run](Params& params) -> ApiResult<PreparedAction> {
                      TG_API_ASSIGN_OR_RETURN(Command command, parse(params));
                      TG_API_RETURN_IF_ERROR(params.Finish());
                      return PreparedAction([run, command = std::move(command)](CallContext& ctx) {
                        return run(ctx, command);
                      });
                    }};
    actions_[{product, std::move(name)}] = std::move(spec);
  }
  const ActionSpec* Find(Product product, std::string_view name) const;
  size_t size() const { return actions_.size(); }
  std::vector<const ActionSpec*> All() const;

 private:
  std::map<std::pair<Product, std::string>, ActionSpec, std::less<>> actions_;
};

// Every action of both products.
ActionTable BuildActionTable();

// One per handler file (api/ecs/*.cc, api/vpc/*.cc).
void RegisterEcsRegionActions(ActionTable& table);    // regions, zones, types, available resources
void RegisterEcsInstanceActions(ActionTable& table);  // instances, user data, console
void RegisterEcsDiskActions(ActionTable& table);      // disks and snapshots
void RegisterEcsImageActions(ActionTable& table);     // images and key pairs
void RegisterEcsNetworkActions(ActionTable& table);   // security groups and ENIs
void RegisterEcsTagActions(ActionTable& table);       // tags and tasks
void RegisterEcsEventActions(ActionTable& table);     // system events, action on host failure
void RegisterVpcActions(ActionTable& table);          // VPCs, vSwitches, routes, regions
void RegisterVpcGatewayActions(ActionTable& table);   // NAT, SNAT, DNAT, EIP, VPN

}  // namespace tg::api
