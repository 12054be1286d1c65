#include "compute/model/metadata.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "compute/model/base64.h"

namespace tg::compute {

namespace {

constexpr std::string_view kPublicKeys = "meta-data/public-keys/";

// Every file served under a version, by its path there; directories are
// what these paths imply.
std::map<std::string, MetadataAnswer, std::less<>> Files(const InstanceMetadata& md) {
  const Instance& i = md.instance;
  const std::string mac = md.eni.mac.ToString(), ip = md.eni.ip.ToString();
  const std::string zone = md.zone_id.empty() ? i.zone : md.zone_id;
  std::map<std::string, MetadataAnswer, std::less<>> f;
  auto put = [&](std::string path, std::string body) { f[std::move(path)].body = std::move(body); };
  put("meta-data/instance-id", i.id);
  put("meta-data/hostname", i.hostname.empty() ? i.id : i.hostname);
  put("meta-data/image-id", i.image);
  put("meta-data/instance/instance-type", i.type);
  if (!i.name.empty()) put("meta-data/instance/instance-name", i.name);
  // The SMBIOS serial QEMU is given is the instance id as well.
  put("meta-data/serial-number", i.id);
  put("meta-data/region-id", md.region_id);
  put("meta-data/zone-id", zone);
  put("meta-data/mac", mac);
  put("meta-data/private-ipv4", ip);
  put("meta-data/vpc-id", md.eni.vpc_id);
  put("meta-data/vswitch-id", md.eni.vswitch_id);
  const std::string nic = "meta-data/network/interfaces/macs/" + mac + "/";
  put(nic + "network-interface-id", md.eni.id);
  put(nic + "primary-ip-address", ip);
  put(nic + "private-ipv4s", nlohmann::json::array({ip}).dump());
  put(nic + "vpc-id", md.eni.vpc_id);
  put(nic + "vswitch-id", md.eni.vswitch_id);
  if (md.key_pair) {
    // One line: a newline would make cloud-init read a list.
    std::string key = md.key_pair->public_key;
    key.erase(std::remove_if(key.begin(), key.end(), [](char c) { return c == '\n' || c == '\r'; }),
              key.end());
    put(fmt::format("{}0/openssh-key", kPublicKeys), std::move(key));
  }
  // A record's user data that does not decode is served as none.
  if (auto data = DecodeBase64(i.user_data); data && !data->empty())
    f["user-data"] = {.body = std::move(*data), .content_type = "application/octet-stream"};
  f["dynamic/instance-identity/document"] = {.body = nlohmann::json{{"instance-id", i.id},
                                                                    {"image-id", i.image},
                                                                    {"instance-type", i.type},
                                                                    {"region-id", md.region_id},
                                                                    {"zone-id", zone},
                                                                    {"serial-number", i.id},
                                                                    {"mac", mac},
                                                                    {"private-ipv4", ip}}
                                                         .dump(),
                                             .content_type = "application/json"};
  return f;
}

// The listing of directory `dir` ("" or ending in '/'): the next name of
// each file under it, directories with a '/'; nullopt if nothing is under it.
std::optional<std::string> List(const std::map<std::string, MetadataAnswer, std::less<>>& files,
                                const InstanceMetadata& md, std::string_view dir) {
  if (dir == kPublicKeys && md.key_pair) return "0=" + md.key_pair->name;  // EC2's key listing
  std::string out;
  std::string_view last;
  for (auto it = files.lower_bound(dir); it != files.end() && it->first.starts_with(dir); ++it) {
    std::string_view rest = std::string_view(it->first).substr(dir.size());
    const size_t slash = rest.find('/');
    if (slash != rest.npos) rest = rest.substr(0, slash + 1);
    if (rest == last) continue;
    if (!out.empty()) out += '\n';
    out += rest;
    last = rest;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

std::optional<MetadataAnswer> LookupMetadata(const InstanceMetadata& md, std::string_view path) {
  if (!path.starts_with('/')) return std::nullopt;
  path.remove_prefix(1);
  if (path.empty()) {  // the versions
    std::string out;
    for (std::string_view v : kMetadataVersions) out += (out.empty() ? "" : "\n") + std::string(v);
    return MetadataAnswer{.body = out};
  }
  const std::string_view version = path.substr(0, path.find('/'));
  if (std::find(std::begin(kMetadataVersions), std::end(kMetadataVersions), version) ==
      std::end(kMetadataVersions))
    return std::nullopt;
  std::string_view rest = path.substr(version.size());
  if (rest.starts_with('/')) rest.remove_prefix(1);
  const auto files = Files(md);
  if (auto file = files.find(rest); file != files.end()) return file->second;
  // A directory, asked for with or without its '/'.
  std::string dir(rest);
  if (!dir.empty() && !dir.ends_with('/')) dir += '/';
  auto listing = List(files, md, dir);
  if (!listing) return std::nullopt;
  return MetadataAnswer{.body = std::move(*listing)};
}

}  // namespace tg::compute
