// The host's vSwitch ports as the compute agent sees them: binding an
// interface to this host makes the vSwitch (following the records) open its
// vhost-user-net socket, which the instance's QEMU then connects to.
#pragma once

#include <string>

#include "compute/agent/planes.h"
#include "network/controller/vpc_store.h"

namespace tg::host {

class NicPlane final : public compute::NicPlane {
 public:
  // `vhost_net_dir`: where the vSwitch's vhost-user-net ports listen.
  NicPlane(network::VpcStore& vpcs, std::string host, std::string vhost_net_dir)
      : vpcs_(vpcs), host_(std::move(host)), dir_(std::move(vhost_net_dir)) {}

  Task<Result<std::string>> Plug(const std::string& eni, Duration timeout) override;
  Task<Result<std::string>> PlugStandby(const std::string& eni, Duration timeout) override;
  Task<Status> Unplug(const std::string& eni) override;

 private:
  Task<Result<std::string>> WaitForPort(const std::string& eni, Duration timeout);
  network::VpcStore& vpcs_;
  std::string host_;
  std::string dir_;
};

}  // namespace tg::host
