#include "cli/api_flags.h"

namespace tg::cli {

void AddApiServeFlags(CLI::App* cmd, api::ApiServeOptions& o) {
  cmd->add_option("--api-listen", o.http.listen, "HOST:PORT of the ECS/VPC API over HTTP")
      ->capture_default_str();
  cmd->add_option("--api-tls-listen", o.tls_listen, "HOST:PORT of the API over HTTPS")
      ->capture_default_str();
  cmd->add_option("--api-tls-cert", o.tls_cert, "PEM certificate of the HTTPS address");
  cmd->add_option("--api-tls-key", o.tls_key, "PEM private key of --api-tls-cert");
  cmd->add_option("--api-endpoint", o.settings.endpoint,
                  "host[:port] DescribeRegions reports as the region's endpoint")
      ->capture_default_str();
  cmd->add_option("--region", o.settings.region, "The region id this cloud answers as")
      ->capture_default_str();
  cmd->add_option("--api-import-dir", o.settings.import_dirs,
                  "A directory ImportImage may read local files from (repeatable)");
  cmd->add_option("--api-work-dir", o.settings.work_dir,
                  "Scratch space for image downloads (default: the system's temporary one)");
  cmd->add_option("--api-rate", o.throttle.rate, "Requests per second per AccessKey (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--api-burst", o.throttle.burst, "Burst of requests per AccessKey")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e7));
  auto& q = o.settings.quotas;
  for (auto [name, field, what] :
       {std::tuple{"--quota-instances", &q.instances, "instances"},
        {"--quota-disks", &q.disks, "disks"},
        {"--quota-snapshots", &q.snapshots, "snapshots"},
        {"--quota-images", &q.images, "images"},
        {"--quota-security-groups", &q.security_groups, "security groups"},
        {"--quota-vpcs", &q.vpcs, "VPCs"},
        {"--quota-vswitches", &q.vswitches, "vSwitches"},
        {"--quota-eips", &q.eips, "EIPs"}}) {
    cmd->add_option(name, *field, std::string("Most ") + what + " per account (0: no limit)")
        ->capture_default_str();
  }
}

}  // namespace tg::cli
