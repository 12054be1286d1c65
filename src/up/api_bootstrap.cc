#include "up/api_bootstrap.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/auth/accounts.h"
#include "api/http/self_signed.h"
#include "base/log.h"

namespace tg::up {

namespace {

using json = nlohmann::json;

constexpr const char* kAdminAccount = "admin";

std::string AdminFile(const std::string& state_dir) {
  return state_dir + "/api-admin.json";
}

Status WritePrivate(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "creating " + path);
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok ? Status::Ok() : ErrnoStatus(errno, "writing " + path);
}

}  // namespace

Status PrepareApi(const std::string& state_dir, api::ApiServeOptions& api) {
  if (!api::ServesApi(api)) {
    api.http.listen = "127.0.0.1:8080";
    api.tls_listen = "127.0.0.1:8443";
  }
  if (!api.tls_listen.empty() && api.tls_cert.empty() && api.tls_key.empty()) {
    const std::string dir = state_dir + "/api-tls";
    api.tls_cert = dir + "/cert.pem";
    api.tls_key = dir + "/key.pem";
    if (!std::filesystem::exists(api.tls_cert) || !std::filesystem::exists(api.tls_key)) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) return ErrnoStatus(ec.value(), "creating " + dir);
      TG_RETURN_IF_ERROR(api::WriteSelfSignedCertificate(api.tls_cert, api.tls_key,
                                                         {"localhost", "127.0.0.1"}, 3650));
    }
  }
  if (api.settings.work_dir.empty()) api.settings.work_dir = state_dir + "/api-work";
  std::error_code ec;
  std::filesystem::create_directories(api.settings.work_dir, ec);
  return Status::Ok();
}

Task<Status> BootstrapApiAdmin(etcd::Client& client, const std::string& state_dir,
                               const api::ApiServeOptions& api) {
  const std::string path = AdminFile(state_dir);
  std::string id, secret;
  if (std::ifstream in(path); in) {
    std::stringstream text;
    text << in.rdbuf();
    json j = json::parse(text.str(), nullptr, false);
    if (j.is_object() && j.contains("access_key_id") && j.contains("access_key_secret")) {
      id = j["access_key_id"].get<std::string>();
      secret = j["access_key_secret"].get<std::string>();
    }
  }
  api::AccountStore accounts(client);
  if (id.empty()) {
    auto account = co_await accounts.GetAccount(kAdminAccount);
    if (!account.ok() && account.status().code() == ErrorCode::kNotFound)
      account = co_await accounts.CreateAccount(kAdminAccount, /*admin=*/true);
    if (!account.ok()) co_return account.status().Annotate("the API's admin account");
    auto key = co_await accounts.CreateAccessKey(account->id);
    if (!key.ok()) co_return key.status().Annotate("the API's admin key");
    id = key->id;
    secret = key->secret;
    json j = {{"account", kAdminAccount}, {"access_key_id", id}, {"access_key_secret", secret}};
    TG_CO_RETURN_IF_ERROR(WritePrivate(path, j.dump(2) + "\n"));
  }
  const std::string endpoint = api.http.listen.empty() ? "" : api.http.listen;
  std::cout << "\nAPI (Alibaba Cloud ECS 2014-05-26 / VPC 2016-04-28):\n";
  if (!api.http.listen.empty()) std::cout << "  endpoint    http://" << api.http.listen << "\n";
  if (!api.tls_listen.empty()) {
    std::cout << "  endpoint    https://" << api.tls_listen << "  (certificate " << api.tls_cert
              << ")\n";
  }
  std::cout << "  region      " << api.settings.region << "\n"
            << "  AccessKey   " << id << "\n"
            << "  secret      in " << path << "\n";
  if (!endpoint.empty()) {
    const std::string secret_of =
        "$(python3 -c \"import json;print(json.load(open('" + path + "'))['access_key_secret'])\")";
    std::cout << "  CLI         tiangong api configure --endpoint http://" << endpoint
              << " --access-key-id " << id << " --access-key-secret " << secret_of << " --region "
              << api.settings.region << " && tiangong api ecs DescribeRegions\n"
              << "  SDK         (from the source tree, after npm ci --prefix tests/api/sdk)\n"
              << "              SECRET=" << secret_of
              << " NODE_PATH=tests/api/sdk/node_modules node -e \"new "
                 "(require('@alicloud/pop-core'))({endpoint:'http://"
              << endpoint << "',apiVersion:'2014-05-26',accessKeyId:'" << id
              << "',accessKeySecret:process.env.SECRET}).request('DescribeRegions',{})"
                 ".then(r=>console.log(JSON.stringify(r)))\"\n";
  }
  std::cout << std::endl;
  co_return Status::Ok();
}

}  // namespace tg::up
