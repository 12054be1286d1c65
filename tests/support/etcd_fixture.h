// The fixture of tests against a real etcd: one member and a client on it,
// both on the test's io_context (run it with RunTask).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "etcd/client.h"
#include "support/etcd_cluster.h"
#include "support/test_util.h"

namespace tg::testing {

class EtcdFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<EtcdCluster>(io_, 1);
    auto c = etcd::Client::Create(io_.get_executor(), {.endpoints = cluster_->urls()});
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }
  // Subclasses that hold anything on the client release it first.
  void TearDown() override {
    client_.reset();
    cluster_.reset();
  }

  asio::io_context io_;
  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<etcd::Client> client_;
};

}  // namespace tg::testing
