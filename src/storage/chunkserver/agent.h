// A chunkserver process's control side: runs the data port for a ChunkStore,
// registers it in etcd under a lease (renewed while the process lives; the
// record carries capacity and what the scrubber found), scrubs the chunks in
// the background, and carries out the recovery copies the master assigns to
// it (fill a chunk from its healthy replicas, rate-limited).
#pragma once

#include <string>

#include "base/async.h"
#include "etcd/client.h"

namespace tg::storage {

struct ChunkserverOptions {
  std::string data_dir;
  std::string listen = "127.0.0.1:0";  // data port; port 0 picks one
  std::string advertise;               // the address peers use (default: the bound one)
  std::string host;                    // failure-domain labels
  std::string rack = "default";
  int lease_ttl_seconds = 5;
  int report_interval_ms = 2000;    // capacity refresh
  int scrub_interval_seconds = 60;  // pause between scrub passes
  uint64_t recovery_bytes_per_second = 256ull << 20;
};

// Runs until `stop` is set; then stops serving and deregisters.
Task<Status> RunChunkserver(etcd::Client& client, ChunkserverOptions options, Event& stop);

}  // namespace tg::storage
