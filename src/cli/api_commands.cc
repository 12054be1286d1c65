#include "cli/api_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "api/client/api_client.h"
#include "api/client/pager.h"
#include "api/client/profiles.h"

namespace tg::cli {

struct ApiCommands::Flags {
  CLI::App* api = nullptr;
  CLI::App* configure = nullptr;
  std::string config_path = api::DefaultProfilePath();
  std::string profile;
  api::Profile given;  // flags that override (or, for configure, make) the profile
  std::string method = "GET";
  bool pager = false;
  bool insecure = false;
  std::string product;
  std::string action;
};

ApiCommands::ApiCommands(CLI::App& app) : flags_(std::make_unique<Flags>()) {
  Flags& f = *flags_;
  f.api = app.add_subcommand("api",
                             "Call the ECS or VPC API (aliyun CLI style): api ecs Action "
                             "--Param value ...");
  f.api->allow_extras();
  f.api->positionals_at_end(false);
  f.api->add_option("--config", f.config_path, "Profiles file")->capture_default_str();
  f.api->add_option("--profile", f.profile, "Profile to use (default: the current one)");
  f.api->add_option("--endpoint", f.given.endpoint, "http(s)://host:port of the API");
  f.api->add_option("--access-key-id", f.given.access_key_id, "AccessKey id");
  f.api->add_option("--access-key-secret", f.given.access_key_secret, "AccessKey secret");
  f.api->add_option("--region", f.given.region_id, "Region id (sent as RegionId)");
  f.api->add_option("--ca-file", f.given.ca_file, "HTTPS: the server certificate to trust");
  f.api->add_flag("--insecure", f.insecure, "HTTPS without verifying the server");
  f.api->add_option("--method", f.method, "GET (query) or POST (form body)")
      ->check(CLI::IsMember({"GET", "POST"}))
      ->capture_default_str();
  f.api->add_flag("--pager", f.pager, "Describe*: read every page and merge the lists");
  f.configure = f.api->add_subcommand("configure", "Save a profile and make it current");
  f.configure->fallthrough();  // the profile flags are the parent's
}

ApiCommands::~ApiCommands() = default;

bool ApiCommands::chosen() const {
  return flags_->api->parsed();
}

namespace {

// "--Name value" pairs (and "--Name=value").
Result<std::map<std::string, std::string>> ParseCallParams(const std::vector<std::string>& args) {
  std::map<std::string, std::string> params;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!a.starts_with("--") || a.size() < 3)
      return InvalidArgument("expected --Param value, got '{}'", a);
    std::string name = a.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) return InvalidArgument("--{} needs a value", name);
      value = args[++i];
    }
    if (!params.emplace(name, value).second) return InvalidArgument("--{} given twice", name);
  }
  return params;
}

// An error reply (one with a Code, or a 4xx/5xx status) fails the command.
Status Print(const api::ApiReply& reply) {
  auto j = nlohmann::json::parse(reply.body, nullptr, false);
  std::cout << (j.is_discarded() ? reply.body : j.dump(2)) << std::endl;
  if (reply.status >= 400 || (!j.is_discarded() && j.is_object() && j.contains("Code")))
    return FailedPrecondition("the API answered HTTP {}", reply.status);
  return Status::Ok();
}

}  // namespace

Status ApiCommands::Run() {
  Flags& f = *flags_;
  TG_ASSIGN_OR_RETURN(api::ProfileFile file, api::ReadProfiles(f.config_path));
  if (f.configure->parsed()) {
    api::Profile p = f.given;
    p.name = f.profile.empty() ? "default" : f.profile;
    if (p.endpoint.empty() || p.access_key_id.empty() || p.access_key_secret.empty())
      return InvalidArgument("configure needs --endpoint, --access-key-id, --access-key-secret");
    api::PutProfile(file, p);
    TG_RETURN_IF_ERROR(api::WriteProfiles(f.config_path, file));
    std::cout << "profile " << p.name << " saved in " << f.config_path << std::endl;
    return Status::Ok();
  }
  std::vector<std::string> rest = f.api->remaining();
  if (rest.size() < 2) return InvalidArgument("usage: tiangong api <ecs|vpc> <Action> [--Param v]");
  api::Profile p;
  if (auto found = api::FindProfile(file, f.profile); found.ok()) {
    p = *found;
  } else if (!f.profile.empty()) {
    return found.status();
  }
  for (auto [flag, field] : {std::pair{&f.given.endpoint, &p.endpoint},
                             {&f.given.access_key_id, &p.access_key_id},
                             {&f.given.access_key_secret, &p.access_key_secret},
                             {&f.given.region_id, &p.region_id},
                             {&f.given.ca_file, &p.ca_file}}) {
    if (!flag->empty()) *field = *flag;
  }
  if (p.endpoint.empty() || p.access_key_id.empty())
    return InvalidArgument("no endpoint or key: run `tiangong api configure` or pass --endpoint");

  api::ApiCall call;
  TG_ASSIGN_OR_RETURN(call.version, api::ProductVersion(rest[0]));
  call.action = rest[1];
  call.post = f.method == "POST";
  TG_ASSIGN_OR_RETURN(call.params,
                      ParseCallParams(std::vector<std::string>(rest.begin() + 2, rest.end())));
  if (!p.region_id.empty() && !call.params.count("RegionId")) call.params["RegionId"] = p.region_id;
  api::ApiClientOptions options{.endpoint = p.endpoint,
                                .access_key_id = p.access_key_id,
                                .access_key_secret = p.access_key_secret,
                                .ca_file = p.ca_file,
                                .insecure = f.insecure};
  if (!f.pager) {
    TG_ASSIGN_OR_RETURN(api::ApiReply reply, api::CallApi(options, call));
    return Print(reply);
  }
  if (!call.params.count("PageSize")) call.params["PageSize"] = "50";
  auto merged = api::ReadAllPages([&](int n) -> Result<nlohmann::json> {
    api::ApiCall page = call;
    page.params["PageNumber"] = std::to_string(n);
    TG_ASSIGN_OR_RETURN(api::ApiReply reply, api::CallApi(options, page));
    auto j = nlohmann::json::parse(reply.body, nullptr, false);
    if (reply.status >= 400 || j.is_discarded() || j.contains("Code")) {
      std::cout << reply.body << std::endl;
      return FailedPrecondition("page {}: the API answered HTTP {}", n, reply.status);
    }
    return j;
  });
  if (!merged.ok()) return merged.status();
  std::cout << merged->dump(2) << std::endl;
  return Status::Ok();
}

}  // namespace tg::cli
