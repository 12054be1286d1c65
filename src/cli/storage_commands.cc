#include "cli/storage_commands.h"

#include <iostream>

#include "storage/common/protocol.h"

namespace tg::cli {

using namespace tg::storage;

namespace {

std::string Bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string ProgressBar(size_t done, size_t total) {
  constexpr int kWidth = 30;
  const double f = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int filled = static_cast<int>(f * kWidth);
  return fmt::format("[{}{}] {:3.0f}% ({}/{})", std::string(filled, '#'),
                     std::string(kWidth - filled, '.'), f * 100, done, total);
}

std::string AttachedTo(const StorageState& view, const std::string& name) {
  auto a = view.attached.find(name);
  return a == view.attached.end() ? "-" : a->second;
}

}  // namespace

Task<Status> VolumeCreate(VolumeStore& store, CreateVolumeRequest request) {
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, co_await store.Create(request));
  std::cout << "volume " << v.name << " " << VolumeStateName(v.state) << ", " << Bytes(v.size)
            << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeSnapshot(VolumeStore& store, std::string name, std::string snapshot) {
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo snap, co_await store.Snapshot(name, snapshot));
  std::cout << "snapshot " << snap.name << " of " << name << " taken" << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeClone(VolumeStore& store, CloneVolumeRequest request) {
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, co_await store.Clone(request));
  std::cout << "volume " << v.name << " cloned from " << request.snapshot << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeResize(VolumeStore& store, std::string name, uint64_t size) {
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, co_await store.Resize(name, size));
  std::cout << "volume " << v.name << " is now " << Bytes(v.size) << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeList(VolumeStore& store) {
  TG_CO_ASSIGN_OR_RETURN(StorageState view, co_await store.Read());
  std::cout << fmt::format("{:<24} {:<8} {:>10} {:<10} {:>6} {:>7} {:>24} {}\n", "NAME", "KIND",
                           "SIZE", "STATE", "EPOCH", "LAYERS", "CHUNKS ok/recov/degraded",
                           "ATTACHED");
  for (const auto& [name, entry] : view.volumes) {
    const VolumeInfo& v = entry.record;
    HealthCount h = CountHealth(view, v.number);
    std::cout << fmt::format("{:<24} {:<8} {:>10} {:<10} {:>6} {:>7} {:>24} {}\n", name,
                             v.snapshot ? "snapshot" : "volume", Bytes(v.size),
                             VolumeStateName(v.state), v.epoch, v.parents.size() + 1,
                             fmt::format("{}/{}/{}", h.healthy, h.recovering, h.degraded),
                             AttachedTo(view, name));
  }
  co_return Status::Ok();
}

Task<Status> VolumeShow(VolumeStore& store, std::string name) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  TG_CO_ASSIGN_OR_RETURN(StorageState view, co_await store.Read());
  auto it = view.volumes.find(name);
  if (it == view.volumes.end()) co_return NotFound("volume {} does not exist", name);
  const VolumeInfo& v = it->second.record;
  std::cout << fmt::format("name: {}\nsize: {} ({} bytes)\nstate: {}\nepoch: {}\nattached: {}\n",
                           v.name, Bytes(v.size), v.size, VolumeStateName(v.state), v.epoch,
                           AttachedTo(view, name));
  for (const auto& [id, entry] : view.chunks) {
    if (VolumeOf(id) != v.number) continue;
    const ChunkInfo& c = entry.record;
    std::string replicas;
    for (const auto& r : c.replicas) {
      auto srv = view.servers.find(r.server);
      replicas += fmt::format(" {}{}{}", r.server,
                              srv == view.servers.end() ? "(gone)" : "@" + srv->second.host,
                              r.state == ReplicaState::kRecovering ? "[recovering]" : "");
    }
    std::cout << fmt::format("chunk {:>5} v{:<3} {:<10}{}\n", IndexOf(id), c.version,
                             ChunkHealthName(HealthOf(c, view.servers)), replicas);
  }
  co_return Status::Ok();
}

Task<Status> VolumeDelete(VolumeStore& store, DeleteVolumeRequest request) {
  TG_CO_RETURN_IF_ERROR(co_await store.Delete(request));
  std::cout << "volume " << request.name << (request.wait ? " deleted" : " deleting") << std::endl;
  co_return Status::Ok();
}

Task<Status> StorageStatus(VolumeStore& store) {
  TG_CO_ASSIGN_OR_RETURN(StorageState view, co_await store.Read());
  std::cout << fmt::format("chunkservers: {}\n", view.servers.size());
  std::cout << fmt::format("  {:<18} {:<12} {:<10} {:<22} {:>7} {:>12} {}\n", "ID", "HOST", "RACK",
                           "ADDRESS", "CHUNKS", "FREE", "CORRUPT");
  for (const auto& [id, srv] : view.servers) {
    std::cout << fmt::format("  {:<18} {:<12} {:<10} {:<22} {:>7} {:>12} {}\n", id, srv.host,
                             srv.rack, srv.address, srv.chunks, Bytes(srv.free_bytes),
                             srv.corrupt_chunks.size());
  }
  HealthCount h = CountHealth(view);
  std::cout << fmt::format("volumes: {}\nchunks: {} healthy, {} recovering, {} degraded\n",
                           view.volumes.size(), h.healthy, h.recovering, h.degraded);
  std::cout << fmt::format("recovery: {} copies in progress\n", PendingRecoveries(view));
  std::cout << "health: " << ProgressBar(h.healthy, h.total()) << std::endl;
  co_return Status::Ok();
}

}  // namespace tg::cli
