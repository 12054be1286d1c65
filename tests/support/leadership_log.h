// The log of who believed they led, and when: election test candidates append
// lines "<monotonic ns> <name> <EVENT>", and the checker turns them into
// intervals and looks for two that overlap.
//
// EVENT is ELECTED (won, and checked is_leader() at that instant), LEADING (a
// periodic check of is_leader() that said yes), or STEPPED_DOWN (a check said
// no). An interval runs from ELECTED to the last LEADING before the next
// STEPPED_DOWN/ELECTED or the end of the log: the last instant the candidate
// is known to have believed. A candidate killed with SIGKILL simply stops
// logging, and its interval ends at its last check.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tg::testing {

struct LeadershipInterval {
  std::string name;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

// Appends one line with O_APPEND and a single write, so it survives SIGKILL.
void AppendLeadershipEvent(const std::string& path, int64_t when_ns, const std::string& name,
                           const std::string& event);

std::vector<LeadershipInterval> ParseLeadershipLog(const std::string& text);
std::vector<LeadershipInterval> ReadLeadershipLogs(const std::vector<std::string>& paths);

// A description of the first pair of intervals of different candidates that
// overlap, or nullopt if there is none.
std::optional<std::string> FindOverlap(std::vector<LeadershipInterval> intervals);

}  // namespace tg::testing
