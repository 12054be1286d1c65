#include "compute/scheduler/event_trim.h"

#include <algorithm>
#include <tuple>

namespace tg::compute {

std::vector<const InstanceEvent*> EventsToTrim(const ComputeState& st,
                                               const std::string& instance) {
  std::vector<const InstanceEvent*> finished;
  size_t count = 0;
  for (const auto& [id, e] : st.events) {
    if (e.value.instance != instance) continue;
    ++count;
    if (e.value.status != kEventExecuting) finished.push_back(&e.value);
  }
  std::sort(finished.begin(), finished.end(), [](const auto* a, const auto* b) {
    return std::tie(a->created_at, a->id) < std::tie(b->created_at, b->id);
  });
  const size_t over = count + 1 > kMaxEventsPerInstance ? count + 1 - kMaxEventsPerInstance : 0;
  finished.resize(std::min(over, finished.size()));
  return finished;
}

}  // namespace tg::compute
