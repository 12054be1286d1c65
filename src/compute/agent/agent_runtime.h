// What the compute agent keeps of each instance it handles (agent.cc and
// migration.cc share it).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "compute/agent/agent.h"
#include "compute/agent/qemu_process.h"

namespace tg::compute {

// What the agent holds of one instance it runs.
struct ComputeAgent::Runtime {
  std::unique_ptr<QemuProcess> qemu;
  std::map<std::string, std::string> disks;  // plugged disk id -> its volume (attached)
  std::set<std::string> nics;                // interfaces bound here (and plugged)
  bool adopt_tried = false;
  bool paused = false;       // its QEMU's vCPUs are stopped (started so, or fenced)
  uint64_t incarnation = 0;  // of the instance its QEMU was started for
  // The store's revision after this agent's last write: the records it acts
  // on must be at least that new, or it would undo its own change (restart
  // what it just marked stopped).
  int64_t written_at = 0;
  bool done = false;  // the worker has finished with it
  std::string last_error;
  // The live migration this QEMU was told to send (its event), and whether
  // its figures are in the event yet.
  std::string migrating;
  bool figures_noted = false;
};

// The instance incarnation a QEMU was started for, beside its pid file.
inline std::string IncarnationPath(const std::string& run_dir) {
  return run_dir + "/incarnation";
}

inline uint64_t ReadIncarnation(const std::string& run_dir) {
  std::ifstream in(IncarnationPath(run_dir));
  uint64_t n = 0;
  return in >> n ? n : 0;  // none: a QEMU started before incarnations
}

inline Status WriteIncarnation(const std::string& run_dir, uint64_t incarnation) {
  std::ofstream out(IncarnationPath(run_dir), std::ios::trunc);
  out << incarnation << "\n";
  if (!out.flush()) return Internal("{}: could not be written", IncarnationPath(run_dir));
  return Status::Ok();
}

}  // namespace tg::compute
