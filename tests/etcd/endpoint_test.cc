#include <gtest/gtest.h>

#include "etcd/client.h"

namespace tg::etcd {
namespace {

TEST(ParseEndpoint, AcceptsUrlsAndHostPort) {
  EXPECT_EQ(*ParseEndpoint("http://127.0.0.1:2379"), "127.0.0.1:2379");
  EXPECT_EQ(*ParseEndpoint("http://127.0.0.1:2379/"), "127.0.0.1:2379");
  EXPECT_EQ(*ParseEndpoint("localhost:12379"), "localhost:12379");
}

TEST(ParseEndpoint, RejectsMalformedWithAClearMessage) {
  for (const char* bad : {"", "http://", "127.0.0.1", "http://127.0.0.1:", "http://h:0",
                          "http://h:70000", "http://h:12ab", "unix:///tmp/x", ":2379"}) {
    auto r = ParseEndpoint(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  auto tls = ParseEndpoint("https://h:2379");
  EXPECT_NE(tls.status().message().find("TLS"), std::string::npos);
}

TEST(PrefixEnd, IsTheNextKeyAfterAllWithThePrefix) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(Client, CreateValidatesEveryEndpoint) {
  asio::io_context io;
  EXPECT_EQ(Client::Create(io.get_executor(), {}).status().code(), ErrorCode::kInvalidArgument);
  auto bad =
      Client::Create(io.get_executor(), {.endpoints = {"http://127.0.0.1:2379", "nonsense"}});
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Client::Create(io.get_executor(), {.endpoints = {"127.0.0.1:2379"}}).ok());
}

}  // namespace
}  // namespace tg::etcd
