// The host's answers to GetInstanceConsoleOutput's requests, on a real
// etcd: only for instances bound to this node, once per nonce, the log's
// tail in base64 under a lease; a new nonce gets a new answer.
#include "compute/agent/console_answer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "compute/model/base64.h"
#include "compute/model/console_exchange.h"
#include "support/etcd_fixture.h"

namespace tg::compute {
namespace {

using testing::RunTask;

class ConsoleAnswerTest : public testing::EtcdFixture {
 protected:
  std::string RunDir(const std::string& id) { return dir_.path() + "/" + id; }
  void WriteLog(const std::string& id, const std::string& text) {
    std::filesystem::create_directories(RunDir(id));
    std::ofstream(RunDir(id) + "/console.log", std::ios::binary | std::ios::trunc) << text;
  }
  static void Bind(ComputeState& st, const std::string& id, const std::string& host) {
    Instance v;
    v.id = id;
    v.host = host;
    st.instances[id] = ComputeState::Entry<Instance>{v, 1};
  }
  // The request keys as the mirror holds them.
  Task<std::map<std::string, etcd::KeyValue>> Requests() {
    std::map<std::string, etcd::KeyValue> out;
    etcd::GetOptions all;
    all.prefix = true;
    auto got = co_await client_->Get(std::string(kConsoleRequestsPrefix), all);
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok())
      for (const auto& kv : got->kvs) out[kv.key] = kv;
    co_return out;
  }
  Task<std::optional<nlohmann::json>> Answer(const std::string& id) {
    auto got = co_await client_->Get(ConsoleOutputKey(id));
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || got->kvs.empty()) co_return std::nullopt;
    EXPECT_NE(got->kvs[0].lease, 0) << "an answer lives on a lease";
    co_return nlohmann::json::parse(got->kvs[0].value);
  }

  testing::TempDir dir_;
};

TEST_F(ConsoleAnswerTest, AnswersTheNodesInstancesOncePerNonce) {
  RunTask(io_, [&]() -> Task<void> {
    ConsoleAnswerer answerer(*client_, "node-a", [&](const std::string& id) { return RunDir(id); });
    ComputeState st;
    Bind(st, "i-mine", "node-a");
    Bind(st, "i-other", "node-b");
    const std::string big(kConsoleOutputBytes + 100, 'x');
    WriteLog("i-mine", big + "login: ");
    WriteLog("i-other", "not ours");
    for (const auto& id : {"i-mine", "i-other", "i-gone"}) {
      auto put = co_await client_->Put(ConsoleRequestKey(id), R"({"nonce":"n1"})");
      CO_ASSERT_TRUE(put.ok());
    }
    auto put = co_await client_->Put(ConsoleRequestKey("i-junk"), "not json");
    CO_ASSERT_TRUE(put.ok());
    Bind(st, "i-junk", "node-a");

    auto requests = co_await Requests();
    CO_ASSERT_OK(co_await answerer.Answer(requests, st, 1764644640));
    auto mine = co_await Answer("i-mine");
    CO_ASSERT_TRUE(mine.has_value());
    EXPECT_EQ((*mine)["nonce"], "n1");
    EXPECT_EQ((*mine)["time"], 1764644640);
    auto decoded = DecodeBase64((*mine)["output"].get<std::string>());
    CO_ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->size(), kConsoleOutputBytes);  // the tail only
    EXPECT_TRUE(decoded->ends_with("xlogin: "));
    EXPECT_FALSE((co_await Answer("i-other")).has_value());  // another node's
    EXPECT_FALSE((co_await Answer("i-gone")).has_value());   // no such instance
    EXPECT_FALSE((co_await Answer("i-junk")).has_value());   // not a request

    // The same nonce is answered once; a new one again, with the new log.
    auto first = co_await client_->Get(ConsoleOutputKey("i-mine"));
    CO_ASSERT_TRUE(first.ok() && !first->kvs.empty());
    WriteLog("i-mine", "rebooted\n");
    CO_ASSERT_OK(co_await answerer.Answer(requests, st, 1764644700));
    auto same = co_await client_->Get(ConsoleOutputKey("i-mine"));
    CO_ASSERT_TRUE(same.ok() && !same->kvs.empty());
    EXPECT_EQ(same->kvs[0].mod_revision, first->kvs[0].mod_revision);
    put = co_await client_->Put(ConsoleRequestKey("i-mine"), R"({"nonce":"n2"})");
    CO_ASSERT_TRUE(put.ok());
    requests = co_await Requests();
    CO_ASSERT_OK(co_await answerer.Answer(requests, st, 1764644700));
    mine = co_await Answer("i-mine");
    CO_ASSERT_TRUE(mine.has_value());
    EXPECT_EQ((*mine)["nonce"], "n2");
    EXPECT_EQ(DecodeBase64((*mine)["output"].get<std::string>()), std::string("rebooted\n"));
  }());
}

}  // namespace
}  // namespace tg::compute
