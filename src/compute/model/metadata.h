// What the metadata service (100.100.100.200) tells an instance about
// itself, in the EC2-style layout cloud-init's AliYun datasource crawls: it
// waits for <version>/meta-data/instance-id, reads <version>/user-data,
// then walks <version>/meta-data/ listing by listing (a name ending in '/'
// is a directory; "0=<name>" under public-keys/ points at
// public-keys/0/openssh-key). It asks for the dated version 2016-01-01;
// `latest` is the same. Every name a listing shows is served, since one
// failed fetch makes cloud-init drop the whole crawl. Pure: the answer is
// a function of the records given.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "compute/model/instance.h"
#include "compute/model/key_pair.h"
#include "network/model/vpc.h"

namespace tg::compute {

// The records an instance's metadata is made of.
struct InstanceMetadata {
  Instance instance;
  network::NetworkInterface eni;    // its primary interface
  std::optional<KeyPair> key_pair;  // the instance's key pair, if it has one
  std::string region_id;
  std::string zone_id;  // "": the instance's zone
};

struct MetadataAnswer {
  std::string body;
  std::string content_type = "text/plain";
};

inline constexpr std::string_view kMetadataVersions[] = {"2016-01-01", "latest"};

// The answer to a GET of `path` ("/latest/meta-data/instance-id"); nullopt
// for a path not served (404), and for user-data when there is none.
std::optional<MetadataAnswer> LookupMetadata(const InstanceMetadata& md, std::string_view path);

}  // namespace tg::compute
