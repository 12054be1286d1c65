#include "api/client/profiles.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tg::api {

namespace {
using json = nlohmann::json;
}

std::string DefaultProfilePath() {
  const char* home = getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.tiangong/config.json";
}

Result<ProfileFile> ReadProfiles(const std::string& path) {
  ProfileFile file;
  std::ifstream in(path);
  if (!in) return file;
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("{} is not JSON", path);
  try {
    file.current = j.value("current", "default");
    for (const json& p : j.value("profiles", json::array())) {
      file.profiles.push_back(Profile{.name = p.at("name").get<std::string>(),
                                      .access_key_id = p.value("access_key_id", ""),
                                      .access_key_secret = p.value("access_key_secret", ""),
                                      .region_id = p.value("region_id", ""),
                                      .endpoint = p.value("endpoint", ""),
                                      .ca_file = p.value("ca_file", "")});
    }
  } catch (const std::exception& e) {
    return InvalidArgument("{}: {}", path, e.what());
  }
  return file;
}

Status WriteProfiles(const std::string& path, const ProfileFile& file) {
  json j = {{"current", file.current}, {"profiles", json::array()}};
  for (const Profile& p : file.profiles) {
    j["profiles"].push_back({{"name", p.name},
                             {"mode", "AK"},
                             {"access_key_id", p.access_key_id},
                             {"access_key_secret", p.access_key_secret},
                             {"region_id", p.region_id},
                             {"endpoint", p.endpoint},
                             {"ca_file", p.ca_file}});
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "creating " + tmp);
  const std::string text = j.dump(2) + "\n";
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!written || rename(tmp.c_str(), path.c_str()) != 0)
    return ErrnoStatus(errno, "writing " + path);
  return Status::Ok();
}

Result<Profile> FindProfile(const ProfileFile& file, const std::string& name) {
  const std::string want = name.empty() ? file.current : name;
  for (const Profile& p : file.profiles)
    if (p.name == want) return p;
  return NotFound("no profile '{}' (tiangong api configure --profile {} ...)", want, want);
}

void PutProfile(ProfileFile& file, Profile profile) {
  file.current = profile.name;
  for (Profile& p : file.profiles) {
    if (p.name == profile.name) {
      p = std::move(profile);
      return;
    }
  }
  file.profiles.push_back(std::move(profile));
}

}  // namespace tg::api
