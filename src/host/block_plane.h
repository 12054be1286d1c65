// The host's block data plane at run time: distributed volumes opened and
// served on vhost-user-blk sockets while the node runs (the compute agent
// attaches an instance's disks as it starts it). Each volume has one
// vhost-user server, one device and one open volume; detaching stops the
// server, flushes and closes the volume (which releases its attachment).
//
// Thread-safety: belongs to the runtime's executor.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/async.h"
#include "compute/agent/planes.h"
#include "etcd/client.h"
#include "vhost/backend.h"
#include "vhost_blk/blk_device.h"
#include "volume/volume.h"

namespace tg::host {

class BlockPlane final : public compute::DiskPlane {
 public:
  // `holder`: this node's name in the volumes' attachments.
  BlockPlane(Executor ex, etcd::Client& client, std::string holder);
  ~BlockPlane() override;

  Task<Status> Attach(const std::string& volume, const std::string& socket,
                      uint16_t queues) override;
  Task<Status> AttachIncoming(const std::string& volume, const std::string& socket,
                              uint16_t queues) override;
  Task<Status> Detach(const std::string& volume) override;
  bool Attached(const std::string& volume) const override;
  // Detaches everything (the node is stopping).
  Task<void> DetachAll();

 private:
  struct Exported;
  Task<Status> Export(const std::string& volume, const std::string& socket, uint16_t queues,
                      bool incoming);
  Executor ex_;
  etcd::Client& client_;
  std::string holder_;
  std::map<std::string, std::unique_ptr<Exported>> exports_;
  TaskGroup serving_;
};

}  // namespace tg::host
