// A storage cluster of real processes for tests: one etcd, `tiangong server`
// processes (the first becomes the storage master, the others stand by) and
// `tiangong chunkserver` processes, each on its own "host" label, data
// directory and loopback port. Plus the checks every fault test ends with.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "etcd/client.h"
#include "storage/common/metadata.h"
#include "support/etcd_cluster.h"
#include "support/test_util.h"
#include "volume/volume.h"

namespace tg::testing {

class StorageCluster {
 public:
  // `etcd_extra_host`: an address etcd also serves on, for chunkservers in
  // network namespaces (see AddChunkserver).
  // `chunkserver_host`: the address the first `chunkservers` listen on.
  StorageCluster(asio::io_context& io, int servers, int chunkservers,
                 std::vector<std::string> chunkserver_flags = {}, std::string etcd_extra_host = "",
                 std::string chunkserver_host = "127.0.0.1");
  ~StorageCluster();

  std::string etcd_url() const { return etcd_.urls()[0]; }
  etcd::Client& client() { return *client_; }
  const std::string& dir() const { return dir_.path(); }

  void StartServer(int i);
  void KillServer(int i);  // SIGKILL
  void StartChunkserver(int i);
  // One more chunkserver, run under `prefix` (e.g. "ip netns exec NS"),
  // listening on `listen` and reaching etcd at `etcd_url`; its index.
  int AddChunkserver(std::vector<std::string> prefix, std::string listen, std::string etcd_url);
  void KillChunkserver(int i);  // SIGKILL
  std::string ChunkserverDataDir(int i) const;
  std::string ChunkserverLog(int i) const;
  std::string ServerLog(int i) const;
  // The chunkserver id recorded in chunkserver i's data directory.
  std::string ChunkserverId(int i) const;
  // The indexes of the chunkservers that hold `chunk_id` now.
  Task<std::vector<int>> Holders(uint64_t chunk_id);
  // Which server process leads the controllers (index), waiting up to `timeout`.
  Task<int> WaitForLeader(Duration timeout);

  // Until every running chunkserver has registered.
  Task<Status> WaitRegistered(Duration timeout);
  // Runs `tiangong volume create` (once every chunkserver has registered)
  // and waits for the volume to be available.
  Status CreateVolume(const std::string& name, const std::string& size);

  // Runs `tiangong ARGS --etcd URL` (ARGS split at spaces) without blocking
  // the event loop; its output if it fails.
  Task<Status> Cli(std::string args);

  // Until every chunk of every volume has 3 healthy replicas on live
  // chunkservers and no recovery is pending.
  Task<Status> WaitHealthy(Duration timeout);
  // Until the master has made a recovery task (a replica is being replaced).
  Task<Status> WaitForRecoveryTask(Duration timeout);
  // Every healthy replica of every chunk of `volume` has the same block
  // checksums (a recovering one is still being filled).
  Task<Status> CheckReplicasIdentical(const std::string& volume);

 private:
  asio::io_context& io_;
  TempDir dir_;
  EtcdCluster etcd_;
  std::unique_ptr<etcd::Client> client_;
  std::vector<std::string> chunkserver_flags_;
  std::vector<std::optional<ChildProcess>> servers_;
  std::vector<std::optional<ChildProcess>> chunkservers_;
  struct Placement {
    std::vector<std::string> prefix;
    std::string listen = "127.0.0.1:0";
    std::string etcd_url;
  };
  std::vector<Placement> placements_;
};

// Records every acknowledged write (per 4 KiB block: which generation of
// data it holds) while writers run, then reads the whole volume back.
class WriteChecker {
 public:
  explicit WriteChecker(uint64_t volume_size);

  // Writes random 4-64 KiB pieces inside [start, start + length) until
  // `stop` is set; each writer gets its own range, so the last acknowledged
  // write of a block is well defined. A failed write is recorded.
  Task<void> Writer(volume::Volume& v, uint64_t start, uint64_t length, uint32_t seed, Event& stop);
  // Runs `writers` writers over the volume for `duration`, and `during`
  // (the fault) after `fault_after`.
  Task<void> Run(volume::Volume& v, int writers, Duration duration, Duration fault_after,
                 std::function<Task<void>()> during);

  // Reads everything back: every block holds its last acknowledged data.
  Task<Status> Verify(volume::Volume& v);

  uint64_t writes_acknowledged() const { return acknowledged_; }
  const std::vector<Status>& failures() const { return failures_; }

  static void Fill(uint64_t block, uint32_t generation, std::span<uint8_t> out);

 private:
  std::vector<uint32_t> generation_;  // per block; 0 = never written (zeroes)
  uint64_t acknowledged_ = 0;
  std::vector<Status> failures_;
};

}  // namespace tg::testing
