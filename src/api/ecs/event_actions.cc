// Instances' system events and what happens to them when their host fails:
// DescribeInstanceHistoryEvents (restarts after host failures, read from
// the scheduler's event records) and ModifyInstanceMaintenanceAttributes
// (ActionOnMaintenance: AutoRecover restarts the instance on another host,
// Stop leaves it stopped; a host's drain does the same with an instance that
// cannot move live), and RedeployInstance (a live migration here).
#include <set>

#include "api/core/json.h"
#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "api/service/state_view.h"
#include "compute/model/host_view.h"

namespace tg::api {

namespace {

using compute::InstanceEvent;

constexpr size_t kMaxIds = 100;

// Alibaba's codes for the types and statuses this cloud writes.
int EventTypeCode(const std::string& type) {
  if (type == compute::kEventRedeploy) return 33;
  if (type == compute::kEventFailureStop) return 34;
  return 0;
}

int CycleStatusCode(const std::string& status) {
  if (status == compute::kEventExecuting) return 32;
  if (status == compute::kEventExecuted) return 34;
  if (status == compute::kEventCanceled) return 16;
  if (status == compute::kEventFailed) return 33;
  return 0;
}

std::string IsoMillis(int64_t ms) {
  return ms > 0 ? IsoSeconds(ms / 1000) : std::string();
}

struct HistoryEventsCommand {
  std::string instance;
  std::set<std::string> event_ids, types, statuses;
  PageRequest page;
};

ApiResult<HistoryEventsCommand> ParseHistoryEvents(Params& p) {
  HistoryEventsCommand c;
  c.instance = p.Optional("InstanceId").value_or("");
  TG_API_ASSIGN_OR_RETURN(auto ids, p.ListA("EventId", kMaxIds));
  c.event_ids.insert(ids.begin(), ids.end());
  TG_API_ASSIGN_OR_RETURN(auto types, p.ListA("InstanceEventType", 30));
  if (types.empty()) {
    if (auto t = p.Optional("EventType")) types.push_back(*t);
  }
  c.types.insert(types.begin(), types.end());
  TG_API_ASSIGN_OR_RETURN(auto statuses, p.ListA("InstanceEventCycleStatus", 7));
  if (statuses.empty()) {
    if (auto s = p.Optional("EventCycleStatus")) statuses.push_back(*s);
  }
  // Alibaba's default: the events no longer under way.
  if (statuses.empty()) statuses = {"Avoided", "Executed", "Canceled", "Failed"};
  c.statuses.insert(statuses.begin(), statuses.end());
  for (const char* ignored : {"ResourceType", "ImpactLevel", "ResourceGroupId"}) p.Ignore(ignored);
  for (const char* window :
       {"NotBefore.Start", "NotBefore.End", "EventPublishTime.Start", "EventPublishTime.End"})
    p.Ignore(window);
  PageOptions options{.default_page_size = 10, .max_page_size = 100, .token_mode = true};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  return c;
}

Task<ApiResult<Json>> RunDescribeHistoryEvents(CallContext& ctx, HistoryEventsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kInstance));
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  std::vector<InstanceEvent> chosen;
  for (const auto& [id, e] : st->events) {
    const InstanceEvent& ev = e.value;
    // Only the caller's instances' events, as of instances still there.
    if (!owned.contains(ev.instance)) continue;
    if (!c.instance.empty() && ev.instance != c.instance) continue;
    if (!c.event_ids.empty() && !c.event_ids.contains(ev.id)) continue;
    if (!c.types.empty() && !c.types.contains(ev.type)) continue;
    if (!c.statuses.contains(ev.status)) continue;
    chosen.push_back(ev);
  }
  // Newest first, as the console lists them.
  std::sort(chosen.begin(), chosen.end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  Json body = Json::object();
  AddPage(body, "InstanceSystemEventSet", "InstanceSystemEventType", chosen.size(), c.page,
          [&](size_t i) {
            const InstanceEvent& ev = chosen[i];
            Json type = Json::object();
            type["Code"] = EventTypeCode(ev.type);
            type["Name"] = ev.type;
            Json cycle = Json::object();
            cycle["Code"] = CycleStatusCode(ev.status);
            cycle["Name"] = ev.status;
            Json extended = Json::object();
            extended["HostId"] = ev.from_host;
            extended["Device"] = "";
            Json e = ObjectWithRoom(12);
            e["EventId"] = ev.id;
            e["InstanceId"] = ev.instance;
            e["ResourceType"] = "instance";
            e["EventType"] = std::move(type);
            e["EventCycleStatus"] = std::move(cycle);
            e["EventPublishTime"] = IsoMillis(ev.created_at);
            e["NotBefore"] = IsoMillis(ev.created_at);
            e["EventFinishTime"] = IsoMillis(ev.finished_at);
            e["Reason"] = ev.reason;
            e["ReasonCode"] = "";
            e["ImpactLevel"] = "";
            e["ExtendedAttribute"] = std::move(extended);
            return e;
          });
  co_return body;
}

struct MaintenanceCommand {
  std::vector<std::string> ids;
  std::optional<compute::FailureAction> action;
};

ApiResult<MaintenanceCommand> ParseModifyMaintenance(Params& p) {
  MaintenanceCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("InstanceId", kMaxIds));
  if (c.ids.empty())
    return Error(400, "MissingParameter", "The input parameter \"InstanceId\" is required.");
  TG_API_ASSIGN_OR_RETURN(auto action,
                          p.Enum("ActionOnMaintenance", {"Stop", "AutoRecover", "AutoRedeploy"}));
  // AutoRedeploy moves instances with local disks, which this cloud has
  // none of: it is AutoRecover here.
  if (action) {
    c.action = *action == "Stop" ? compute::FailureAction::kStop : compute::FailureAction::kRestart;
  }
  p.Ignore("NotifyOnMaintenance");
  for (int i = 1; i <= 10; ++i) {
    p.Ignore(fmt::format("MaintenanceWindow.{}.StartTime", i));
    p.Ignore(fmt::format("MaintenanceWindow.{}.EndTime", i));
  }
  return c;
}

Task<ApiResult<Json>> RunModifyMaintenance(CallContext& ctx, MaintenanceCommand c) {
  // Every instance is checked before any changes.
  for (const auto& id : c.ids)
    TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, id, kind::kInstance, "Instance"));
  for (const auto& id : c.ids) {
    Status s = co_await ctx.services.compute.SetFailureAction(id, c.action, std::nullopt);
    if (s.code() == ErrorCode::kNotFound) co_return NotFound("Instance", id);
    if (!s.ok()) co_return FromStatus(s);
  }
  co_return Json::object();
}

// RedeployInstance: on Alibaba, moves an instance a system event names to
// another host. Here a Running instance moves live (it keeps running); its
// TaskId is the migration's event id (DescribeInstanceHistoryEvents shows
// it, SystemMaintenance.LiveMigrate, and its outcome).
struct RedeployCommand {
  std::string id;
};

ApiResult<RedeployCommand> ParseRedeploy(Params& p) {
  RedeployCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("ForceStop"));
  (void)force;  // a live migration stops nothing
  return c;
}

Task<ApiResult<Json>> RunRedeploy(CallContext& ctx, RedeployCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.id, kind::kInstance, "Instance"));
  compute::MigrateRequest anywhere;  // named: no temporaries in a co_await (GCC 12)
  auto m = co_await ctx.services.compute.MigrateInstance(c.id, anywhere);
  if (!m.ok()) {
    StatusCodes codes;
    codes.failed_precondition =
        Error(403, "IncorrectInstanceStatus",
              "The current status of the resource does not support this operation.");
    codes.not_found = NotFound("Instance", c.id);
    co_return FromStatus(m.status(), codes);
  }
  Json body = Json::object();
  body["TaskId"] = m->event;
  co_return body;
}

}  // namespace

void RegisterEcsEventActions(ActionTable& table) {
  constexpr Product ecs = Product::kEcs;
  table.Add(ecs, "DescribeInstanceHistoryEvents", &ParseHistoryEvents, &RunDescribeHistoryEvents);
  table.Add(ecs, "ModifyInstanceMaintenanceAttributes", &ParseModifyMaintenance,
            &RunModifyMaintenance);
  table.Add(ecs, "RedeployInstance", &ParseRedeploy, &RunRedeploy);
}

}  // namespace tg::api
