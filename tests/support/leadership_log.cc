#include "support/leadership_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace tg::testing {

void AppendLeadershipEvent(const std::string& path, int64_t when_ns, const std::string& name,
                           const std::string& event) {
  std::string line = fmt::format("{} {} {}\n", when_ns, name, event);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

std::vector<LeadershipInterval> ParseLeadershipLog(const std::string& text) {
  std::vector<LeadershipInterval> out;
  std::map<std::string, std::optional<LeadershipInterval>> open;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int64_t when = 0;
    std::string name, event;
    if (!(fields >> when >> name >> event)) continue;  // a torn last line
    auto& current = open[name];
    if (event == "ELECTED") {
      if (current) out.push_back(*current);
      current = LeadershipInterval{name, when, when};
    } else if (event == "LEADING") {
      if (current) current->end_ns = std::max(current->end_ns, when);
    } else if (event == "STEPPED_DOWN") {
      if (current) out.push_back(*current);
      current.reset();
    }
  }
  for (auto& [name, current] : open) {
    if (current) out.push_back(*current);
  }
  return out;
}

std::vector<LeadershipInterval> ReadLeadershipLogs(const std::vector<std::string>& paths) {
  std::vector<LeadershipInterval> all;
  for (const auto& p : paths) {
    std::ifstream f(p);
    std::stringstream buf;
    buf << f.rdbuf();
    auto part = ParseLeadershipLog(buf.str());
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

std::optional<std::string> FindOverlap(std::vector<LeadershipInterval> intervals) {
  std::sort(intervals.begin(), intervals.end(),
            [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });
  for (size_t i = 0; i < intervals.size(); ++i) {
    for (size_t j = i + 1; j < intervals.size(); ++j) {
      const auto& a = intervals[i];
      const auto& b = intervals[j];
      if (b.start_ns > a.end_ns) break;  // sorted by start: no later one overlaps a
      if (a.name != b.name) {
        return fmt::format("{} led [{}, {}] and {} led [{}, {}]", a.name, a.start_ns, a.end_ns,
                           b.name, b.start_ns, b.end_ns);
      }
    }
  }
  return std::nullopt;
}

}  // namespace tg::testing
