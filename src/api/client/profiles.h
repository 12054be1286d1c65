// Profiles of `tiangong api` in ~/.tiangong/config.json, laid out like the
// aliyun CLI's ~/.aliyun/config.json: {"current": name, "profiles": [{name,
// mode "AK", access_key_id, access_key_secret, region_id, endpoint}]}.
// The file holds secrets: it is written with mode 0600.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace tg::api {

struct Profile {
  std::string name = "default";
  std::string access_key_id;
  std::string access_key_secret;
  std::string region_id;
  std::string endpoint;  // http(s)://host:port
  std::string ca_file;   // HTTPS: the certificate to trust
};

struct ProfileFile {
  std::string current = "default";
  std::vector<Profile> profiles;
};

// $HOME/.tiangong/config.json
std::string DefaultProfilePath();
// A missing file is an empty one; a malformed file is an error.
Result<ProfileFile> ReadProfiles(const std::string& path);
Status WriteProfiles(const std::string& path, const ProfileFile& file);
// The profile named `name` ("" = current), or NotFound.
Result<Profile> FindProfile(const ProfileFile& file, const std::string& name);
// Adds or replaces `profile` and makes it current.
void PutProfile(ProfileFile& file, Profile profile);

}  // namespace tg::api
