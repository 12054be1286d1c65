// The real API server under bad and heavy input: malformed HTTP, oversized
// headers and bodies, a client that dribbles its header, 200 concurrent
// signed calls, huge parameter sets, a create refused part-way (nothing
// half-made), and then: the server still answers and its log holds no
// secret. Plus the aliyun-style `tiangong api` CLI against it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "api/auth/signature.h"
#include "api_cloud.h"

namespace tg::api::e2e {
namespace {

using namespace std::chrono_literals;

const std::string kClose = "Host: 127.0.0.1\r\nConnection: close\r\n";

::testing::AssertionResult ErrorReply(const Result<HttpReply>& reply, int status,
                                      const std::string& code = "") {
  if (!reply.ok()) return ::testing::AssertionFailure() << reply.status();
  const Json j = reply->json();
  if (reply->status != status || !j.is_object() || !j.contains("Code") ||
      (!code.empty() && j.value("Code", "") != code)) {
    return ::testing::AssertionFailure() << "expected " << status << " " << code << ", got "
                                         << reply->status << " " << reply->body.substr(0, 500);
  }
  return ::testing::AssertionSuccess();
}

bool Answers(ApiCloud& cloud, const Tenant& t) {
  auto r = SignedGet(cloud.http_port(), t, "ecs", "DescribeRegions");
  return r.ok() && r->status == 200 && r->json().contains("Regions");
}

Result<HttpReply> SignedPost(ApiCloud& cloud, const Tenant& t, const std::string& product,
                             const std::string& action, std::map<std::string, std::string> params) {
  params["Action"] = action;
  params["Version"] = VersionOf(product);
  const std::string body = SignedV1Query(t, "POST", std::move(params));
  return RawHttp(cloud.http_port(),
                 fmt::format("POST / HTTP/1.1\r\n{}Content-Type: application/x-www-form-urlencoded"
                             "\r\nContent-Length: {}\r\n\r\n{}",
                             kClose, body.size(), body));
}

int VpcCount(ApiCloud& cloud, const Tenant& t) {
  auto r = SignedGet(cloud.http_port(), t, "vpc", "DescribeVpcs");
  EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
  return r.ok() ? r->json().value("TotalCount", -1) : -1;
}

class RobustnessTest : public ::testing::Test {
 protected:
  // A burst large enough for the 200 concurrent calls of one key.
  RobustnessTest() : cloud_(0, {"--api-burst", "1000"}) {}
  ApiCloud cloud_;
};

TEST_F(RobustnessTest, MalformedAndOversizedHttp) {
  auto t = cloud_.CreateTenant("alice");
  ASSERT_OK(t.status());
  const uint16_t port = cloud_.http_port();

  // A garbage request line, a header without a colon: 400, never a crash.
  auto garbage = RawHttp(port, "\x01\x02 NOT HTTP AT ALL\r\n\r\n");
  ASSERT_OK(garbage.status());
  EXPECT_TRUE(garbage->status == 400 || garbage->status == 0) << garbage->status << garbage->body;
  EXPECT_TRUE(ErrorReply(RawHttp(port,
                                 "GET /?Action=DescribeRegions HTTP/1.1\r\nHost 127.0.0.1"
                                 "\r\nConnection: close\r\n\r\n"),
                         400));
  EXPECT_TRUE(ErrorReply(RawHttp(port, "GET / HTTP/9.9\r\n" + kClose + "\r\n"), 400));
  EXPECT_TRUE(Answers(cloud_, *t));

  // A 64 KiB header: 431. A 5 MiB body: 413.
  EXPECT_TRUE(ErrorReply(RawHttp(port, "GET /?Action=DescribeRegions HTTP/1.1\r\n" + kClose +
                                           "X-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n"),
                         431));
  const std::string five_mib(5 * 1024 * 1024, 'a');
  EXPECT_TRUE(ErrorReply(
      RawHttp(port,
              fmt::format("POST / HTTP/1.1\r\n{}Content-Type: application/x-www-form-urlencoded"
                          "\r\nContent-Length: {}\r\n\r\n",
                          kClose, five_mib.size()) +
                  five_mib),
      413));
  // The same body chunked: still 413.
  std::string chunked = "POST / HTTP/1.1\r\n" + kClose +
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) chunked += fmt::format("100000\r\n{}\r\n", std::string(1 << 20, 'b'));
  chunked += "0\r\n\r\n";
  EXPECT_TRUE(ErrorReply(RawHttp(port, chunked), 413));
  EXPECT_TRUE(Answers(cloud_, *t));

  // 5000 parameters in a form body: a clear 400 before anything runs.
  std::string many = "Action=DescribeRegions&Version=2014-05-26";
  for (int i = 0; i < 5000; ++i) many += fmt::format("&P{}=v", i);
  auto too_many = RawHttp(
      port, fmt::format("POST / HTTP/1.1\r\n{}Content-Type: application/x-www-form-urlencoded"
                        "\r\nContent-Length: {}\r\n\r\n{}",
                        kClose, many.size(), many));
  EXPECT_TRUE(ErrorReply(too_many, 400, "InvalidParameter"));
  if (too_many.ok()) {
    EXPECT_NE(too_many->body.find("more than"), std::string::npos) << too_many->body;
  }
  // 1500 signed parameters (Tag.N.*): still that 400.
  std::map<std::string, std::string> tags;
  for (int i = 1; i <= 750; ++i) {
    tags[fmt::format("Tag.{}.Key", i)] = fmt::format("k{}", i);
    tags[fmt::format("Tag.{}.Value", i)] = "v";
  }
  tags["CidrBlock"] = "10.0.0.0/16";
  EXPECT_TRUE(
      ErrorReply(SignedPost(cloud_, *t, "vpc", "CreateVpc", tags), 400, "InvalidParameter"));
  // A 200 KiB value, signed: refused with its name.
  auto huge = SignedPost(cloud_, *t, "vpc", "CreateVpc",
                         {{"CidrBlock", "10.0.0.0/16"}, {"VpcName", std::string(200 * 1024, 'n')}});
  EXPECT_TRUE(ErrorReply(huge, 400));
  if (huge.ok()) {
    EXPECT_NE(huge->body.find("VpcName"), std::string::npos) << huge->body.substr(0, 400);
    EXPECT_LT(huge->body.size(), 4096u) << "the error echoes the value";
  }
  // A parameter given twice (query and body).
  const std::string body = SignedV1Query(
      *t, "POST", {{"Action", "DescribeVpcs"}, {"Version", VersionOf("vpc")}, {"PageSize", "10"}});
  EXPECT_TRUE(ErrorReply(
      RawHttp(port, fmt::format("POST /?PageSize=10 HTTP/1.1\r\n{}Content-Type: "
                                "application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
                                kClose, body.size(), body)),
      400, "InvalidParameter"));
  EXPECT_EQ(VpcCount(cloud_, *t), 0);
  EXPECT_TRUE(Answers(cloud_, *t));
}

TEST_F(RobustnessTest, SlowClientDoesNotHoldTheServer) {
  auto t = cloud_.CreateTenant("alice");
  ASSERT_OK(t.status());
  // A client that sends its header one byte every 300 ms and never ends it.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(cloud_.http_port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::atomic<bool> closed = false;
  std::string got;
  const auto started = Clock::now();
  Clock::time_point closed_at;
  std::thread slow([&] {
    const std::string header =
        "GET /?Action=DescribeRegions HTTP/1.1\r\nX-Slow: " + std::string(1000, 's');
    for (size_t i = 0; i < header.size() && Clock::now() - started < 60s; ++i) {
      if (::send(fd, &header[i], 1, MSG_NOSIGNAL) != 1) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 300) > 0) {
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        if (n <= 0 || got.find("\r\n\r\n") != std::string::npos) break;
      }
    }
    closed_at = Clock::now();
    closed = true;
  });
  // Meanwhile others are served.
  int served = 0;
  while (!closed && Clock::now() - started < 60s) {
    EXPECT_TRUE(Answers(cloud_, *t));
    ++served;
    std::this_thread::sleep_for(200ms);
  }
  slow.join();
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_GT(served, 3);
  // The header timeout (10 s) ends it, with 408 or a close.
  EXPECT_LT(closed_at - started, 30s);
  EXPECT_GT(closed_at - started, 5s);
  if (!got.empty()) {
    EXPECT_NE(got.find(" 408 "), std::string::npos) << got;
  }
  EXPECT_TRUE(Answers(cloud_, *t));
}

TEST_F(RobustnessTest, TwoHundredConcurrentSignedCalls) {
  auto t = cloud_.CreateTenant("alice");
  ASSERT_OK(t.status());
  constexpr int kCalls = 200;
  std::vector<int> status(kCalls, -1);
  std::vector<std::string> bodies(kCalls);
  std::vector<std::thread> threads;
  std::atomic<int> ready = 0;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      // Signed before the start, so that the calls go together.
      const std::string product = i % 2 ? "vpc" : "ecs";
      const std::string query =
          SignedV1Query(*t, "GET",
                        {{"Action", i % 2 ? "DescribeVpcs" : "DescribeRegions"},
                         {"Version", VersionOf(product)}});
      ++ready;
      while (ready < kCalls) std::this_thread::yield();
      auto r =
          RawHttp(cloud_.http_port(), "GET /?" + query + " HTTP/1.1\r\n" + kClose + "\r\n", 120s);
      status[i] = r.ok() ? r->status : 0;
      bodies[i] = r.ok() ? r->body : r.status().ToString();
    });
  }
  for (auto& th : threads) th.join();
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    if (status[i] == 200) {
      ++ok;
    } else {
      ADD_FAILURE() << "call " << i << ": " << status[i] << " " << bodies[i];
    }
  }
  EXPECT_EQ(ok, kCalls);
  // Through the SDKs too: four node processes of 25 calls each, at once.
  std::vector<Json> answers(4);
  std::vector<std::thread> nodes;
  for (int n = 0; n < 4; ++n) {
    nodes.emplace_back([&, n] {
      Json calls = Json::array();
      for (int i = 0; i < 25; ++i) {
        calls.push_back({{"sdk", (i + n) % 2 ? "v3" : "pop"},
                         {"product", "vpc"},
                         {"action", "DescribeVpcs"},
                         {"params", (i + n) % 2 ? Json{{"regionId", "cn-tiangong"}}
                                                : Json{{"RegionId", "cn-tiangong"}}}});
      }
      answers[n] = cloud_.Sdk(*t, calls);
    });
  }
  for (auto& th : nodes) th.join();
  for (const Json& batch : answers) {
    ASSERT_TRUE(batch.is_array()) << batch.dump();
    for (const Json& a : batch) EXPECT_TRUE(a.contains("ok")) << a.dump();
  }
  EXPECT_TRUE(cloud_.ApiServerRunning(0));
  EXPECT_TRUE(Answers(cloud_, *t));
}

TEST_F(RobustnessTest, NothingHalfWrittenAndNoSecretLogged) {
  auto t = cloud_.CreateTenant("alice");
  ASSERT_OK(t.status());
  // A VPC whose second tag is bad: refused, and no VPC (nor tag) exists.
  Json bad = cloud_.Pop(*t, "vpc", "CreateVpc",
                        {{"CidrBlock", "10.0.0.0/16"},
                         {"Tag.1.Key", "team"},
                         {"Tag.1.Value", "web"},
                         {"Tag.2.Key", ""},
                         {"Tag.2.Value", "x"}});
  EXPECT_TRUE(bad.contains("error")) << bad.dump();
  Json bad_v3 = cloud_.V3(
      *t, "vpc", "CreateVpc",
      {{"regionId", "cn-tiangong"},
       {"cidrBlock", "10.0.0.0/16"},
       {"tag", Json::array({{{"key", "team"}, {"value", "web"}}, {{"key", ""}, {"value", "x"}}})}});
  EXPECT_TRUE(bad_v3.contains("error")) << bad_v3.dump();
  if (bad_v3.contains("error")) {
    EXPECT_EQ(bad_v3["error"].value("statusCode", 0), 400) << bad_v3.dump();
  }
  EXPECT_EQ(VpcCount(cloud_, *t), 0);
  Json tags = cloud_.Pop(*t, "vpc", "ListTagResources", {{"ResourceType", "VPC"}});
  EXPECT_TRUE(tags.contains("ok")) << tags.dump();
  if (tags.contains("ok")) {
    EXPECT_TRUE(tags["ok"]["TagResources"]["TagResource"].empty()) << tags.dump();
  }
  // A good one then: made, tagged, once.
  Json good =
      cloud_.Pop(*t, "vpc", "CreateVpc",
                 {{"CidrBlock", "10.0.0.0/16"}, {"Tag.1.Key", "team"}, {"Tag.1.Value", "web"}});
  ASSERT_TRUE(good.contains("ok")) << good.dump();
  EXPECT_EQ(VpcCount(cloud_, *t), 1);
  // A wrong secret, too, for the log check below.
  Tenant wrong = *t;
  wrong.access_key_secret = "WrongSecretThatMustNotBeLogged0";
  EXPECT_EQ(CodeOf(cloud_.Pop(wrong, "ecs", "DescribeRegions")), "SignatureDoesNotMatch");

  EXPECT_TRUE(Answers(cloud_, *t));
  const std::string log = cloud_.ApiLog(0);
  EXPECT_NE(log.find("Vpc.CreateVpc"), std::string::npos) << "calls are logged";
  EXPECT_EQ(log.find(t->access_key_secret), std::string::npos) << "the secret is in the log";
  EXPECT_EQ(log.find(wrong.access_key_secret), std::string::npos) << "a given secret is in the log";
}

TEST_F(RobustnessTest, TiangongApiCli) {
  auto t = cloud_.CreateTenant("alice");
  ASSERT_OK(t.status());
  const std::string config = cloud_.dir() + "/tiangong-api.json";
  auto saved =
      cloud_.Tiangong({"api", "configure", "--config", config, "--endpoint",
                       "http://" + cloud_.endpoint(), "--access-key-id", t->access_key_id,
                       "--access-key-secret", t->access_key_secret, "--region", "cn-tiangong"});
  ASSERT_OK(saved.status());
  auto regions = cloud_.Tiangong({"api", "--config", config, "ecs", "DescribeRegions"});
  ASSERT_OK(regions.status());
  const Json r = Json::parse(regions->substr(regions->find('{')), nullptr, false);
  ASSERT_TRUE(r.is_object()) << *regions;
  EXPECT_EQ(r["Regions"]["Region"][0].value("RegionId", ""), "cn-tiangong") << *regions;

  // POST; then three VPCs read one page at a time and merged by --pager.
  for (const char* cidr : {"10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"}) {
    auto made = cloud_.Tiangong({"api", "--config", config, "--method", "POST", "vpc", "CreateVpc",
                                 "--CidrBlock", cidr, "--VpcName", "cli-made"});
    ASSERT_OK(made.status());
    EXPECT_NE(made->find("\"VpcId\""), std::string::npos) << *made;
  }
  auto paged = cloud_.Tiangong(
      {"api", "--config", config, "vpc", "DescribeVpcs", "--pager", "--PageSize", "1"});
  ASSERT_OK(paged.status());
  const Json p = Json::parse(paged->substr(paged->find('{')), nullptr, false);
  ASSERT_TRUE(p.is_object()) << *paged;
  EXPECT_EQ(p["Vpcs"]["Vpc"].size(), 3u) << *paged;
  auto one_page =
      cloud_.Tiangong({"api", "--config", config, "vpc", "DescribeVpcs", "--PageSize=2"});
  ASSERT_OK(one_page.status());
  const Json o = Json::parse(one_page->substr(one_page->find('{')), nullptr, false);
  EXPECT_EQ(o["Vpcs"]["Vpc"].size(), 2u) << *one_page;
  EXPECT_EQ(o.value("TotalCount", 0), 3) << *one_page;

  // An error reply: printed, and the command fails.
  auto missing = cloud_.Tiangong({"api", "--config", config, "vpc", "DescribeVpcAttribute",
                                  "--VpcId", "vpc-nosuch0000000000"});
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().ToString().find("InvalidVpcId.NotFound"), std::string::npos)
      << missing.status();
  // Over HTTPS with the certificate trusted, from a second profile.
  ASSERT_OK(
      cloud_
          .Tiangong({"api", "configure", "--config", config, "--profile", "tls", "--endpoint",
                     "https://" + cloud_.https_endpoint(), "--access-key-id", t->access_key_id,
                     "--access-key-secret", t->access_key_secret, "--ca-file", cloud_.ca_file()})
          .status());
  auto tls =
      cloud_.Tiangong({"api", "--config", config, "--profile", "tls", "vpc", "DescribeVpcs"});
  ASSERT_OK(tls.status());
  EXPECT_NE(tls->find("\"TotalCount\": 3"), std::string::npos) << *tls;
  // Without the certificate, HTTPS is refused (the server is not trusted).
  auto untrusted = cloud_.Tiangong({"api", "--config", config, "--profile", "tls", "--ca-file",
                                    cloud_.dir() + "/no-such-ca.pem", "vpc", "DescribeVpcs"});
  EXPECT_FALSE(untrusted.ok());
  // The profile file holds the secret: mode 0600.
  struct stat st {};
  ASSERT_EQ(::stat(config.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace tg::api::e2e
