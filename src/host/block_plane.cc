#include "host/block_plane.h"

#include "base/log.h"
#include "storage/client/distributed_volume.h"

namespace tg::host {

namespace {

auto Log() {
  static auto log = log::Get("block-plane");
  return log;
}

}  // namespace

struct BlockPlane::Exported {
  std::unique_ptr<volume::Volume> volume;
  std::unique_ptr<vhost_blk::BlkDevice> device;
  std::unique_ptr<vhost::Server> server;
  std::unique_ptr<Event> served;  // set when the server's Run has ended
};

BlockPlane::BlockPlane(Executor ex, etcd::Client& client, std::string holder)
    : ex_(ex), client_(client), holder_(std::move(holder)), serving_(ex) {}

BlockPlane::~BlockPlane() = default;

bool BlockPlane::Attached(const std::string& volume) const {
  return exports_.contains(volume);
}

Task<Status> BlockPlane::Attach(const std::string& volume, const std::string& socket,
                                uint16_t queues) {
  co_return co_await Export(volume, socket, queues, /*incoming=*/false);
}

Task<Status> BlockPlane::AttachIncoming(const std::string& volume, const std::string& socket,
                                        uint16_t queues) {
  co_return co_await Export(volume, socket, queues, /*incoming=*/true);
}

Task<Status> BlockPlane::Export(const std::string& volume, const std::string& socket,
                                uint16_t queues, bool incoming) {
  if (exports_.contains(volume)) co_return Status::Ok();
  if (queues == 0 || queues > 16) co_return InvalidArgument("{} queues for {}", queues, volume);
  // The instance is bound to this node (or is migrating to it): this node
  // is the volume's rightful writer, so it takes the attachment over (a
  // restarted agent's own old one, a dead host's, a migration's source) and
  // the new epoch fences whoever wrote before. A migration's destination
  // does that at its guest's first request, after the source has stopped.
  storage::DistributedVolumeOptions options{.volume = volume,
                                            .holder = holder_,
                                            .lease_ttl_seconds = 5,
                                            .take_over = true,
                                            .replica_wait_seconds = 30};
  Result<std::unique_ptr<volume::Volume>> opened = Internal("{} not opened", volume);
  if (incoming) {
    opened = co_await storage::OpenDistributedVolumeOnFirstUse(client_, options);
  } else {
    opened = co_await storage::OpenDistributedVolume(client_, options);
  }
  TG_CO_RETURN_IF_ERROR(opened.status());
  auto e = std::make_unique<Exported>();
  e->volume = std::move(*opened);
  e->device = std::make_unique<vhost_blk::BlkDevice>(*e->volume, queues, volume);
  e->server = std::make_unique<vhost::Server>(ex_, *e->device, socket);
  if (Status s = e->server->Listen(); !s.ok()) {
    co_await e->volume->Close();
    co_return s.Annotate("vhost-user-blk socket of " + volume);
  }
  e->served = std::make_unique<Event>(ex_);
  serving_.Spawn("vhost-user-blk " + volume,
                 [](vhost::Server& server, Event& served) -> Task<void> {
                   co_await server.Run();
                   served.Set();
                 }(*e->server, *e->served));
  Log()->info("volume attached name={} socket={} size={}{}", volume, socket, e->volume->size(),
              incoming ? " (opened at its first request: a migration's destination)" : "");
  exports_[volume] = std::move(e);
  co_return Status::Ok();
}

Task<Status> BlockPlane::Detach(const std::string& volume) {
  auto it = exports_.find(volume);
  if (it == exports_.end()) co_return Status::Ok();
  std::unique_ptr<Exported> e = std::move(it->second);
  exports_.erase(it);
  co_await e->server->Stop();
  // The connection's requests finish before Run ends; only then may the
  // device and the volume go.
  while (!e->served->is_set() && !co_await IsCancelled()) co_await e->served->Wait();
  Status flushed = co_await e->volume->Flush();
  co_await e->volume->Close();
  Log()->info("volume detached name={}", volume);
  co_return flushed;
}

Task<void> BlockPlane::DetachAll() {
  while (!exports_.empty()) {
    std::string name = exports_.begin()->first;
    Status s = co_await Detach(name);
    if (!s.ok()) Log()->warn("detach of {} on stop: {}", name, s);
  }
  serving_.CancelAll();
  co_await serving_.Close();
}

}  // namespace tg::host
