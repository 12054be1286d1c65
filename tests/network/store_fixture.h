// A real etcd (one member), a client and a VPC store on it: the fixture of
// the tests of the store and of the controllers that write through it.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "network/controller/vpc_store.h"
#include "support/etcd_cluster.h"
#include "support/test_util.h"

namespace tg::network {

class VpcStoreFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::EtcdCluster>(io_, 1, extra_client_host_);
    auto c = etcd::Client::Create(io_.get_executor(), {.endpoints = cluster_->urls()});
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    store_ = std::make_unique<VpcStore>(*client_);
  }
  void TearDown() override {
    store_.reset();
    client_.reset();
    cluster_.reset();
  }
  std::string extra_client_host_;  // etcd serves clients there too (set before SetUp)
  asio::io_context io_;
  std::unique_ptr<testing::EtcdCluster> cluster_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<VpcStore> store_;
};

}  // namespace tg::network
