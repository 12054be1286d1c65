// A closed-loop HTTP load generator for bench/api: THREADS clients, each on
// one kept-alive connection, send a request as soon as the previous answer
// is in, for SECONDS, pages 1..PAGES in turn, and time each exchange.
//
//   api_load api  HOST:PORT THREADS SECONDS PAGES PAGE_SIZE TOTAL AK SECRET
//     signed DescribeInstances (signature V1, a fresh SignatureNonce and
//     Timestamp each, so every request is signed anew), PageNumber 1..PAGES.
//   api_load etcd HOST:PORT THREADS SECONDS PAGES PAGE_SIZE TOTAL PREFIX
//     etcd's JSON gateway, POST /v3/kv/range of PREFIX's keys, limit
//     PAGE_SIZE, page k starting at the key the previous page ended after
//     (the starting keys are read once, before the clock starts).
//
// The first answer of each page on each connection is checked in full
// (PAGE_SIZE items, TOTAL in all); later ones by their status only, so the
// client's parsing does not take the CPU the servers share with it.
// Prints one JSON line: requests, errors, reconnects, seconds, rps, p50_ms,
// p99_ms, max_ms.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/auth/signature.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "api_load: %s\n", what.c_str());
  std::exit(1);
}

struct Config {
  bool etcd = false;
  std::string host, port;
  int threads = 16;
  double seconds = 15;
  int pages = 4;
  int page_size = 25;
  int total = 100;
  std::string access_key_id, secret;  // api
  std::string prefix;                 // etcd
  std::vector<std::string> starts;    // etcd: each page's first key
};

std::string Timestamp() {
  const time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The end of a prefix's range: its last byte incremented (etcd's rule).
std::string PrefixEnd(std::string p) {
  while (!p.empty() && static_cast<unsigned char>(p.back()) == 0xff) p.pop_back();
  if (!p.empty()) p.back() = static_cast<char>(p.back() + 1);
  return p;
}

std::string Base64Decode(const std::string& in) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const auto at = chars.find(c);
    if (at == std::string::npos) break;
    val = (val << 6) + static_cast<int>(at);
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

class Client {
 public:
  Client(const Config& c, int index)
      : c_(c), page_(index % c.pages), rng_(std::random_device{}()), checked_(c.pages, false) {}

  void Run(Clock::time_point start, Clock::time_point end, std::vector<double>& latencies_ms) {
    while (Clock::now() < start) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    while (Clock::now() < end) {
      if (!stream_) Connect();
      http::request<http::string_body> req = Build();
      const auto t0 = Clock::now();
      beast::error_code ec;
      http::write(*stream_, req, ec);
      http::response<http::string_body> res;
      if (!ec) http::read(*stream_, buffer_, res, ec);
      const auto t1 = Clock::now();
      if (ec) {  // the server closed a kept-alive connection: open another
        stream_.reset();
        buffer_.clear();
        ++reconnects;
        continue;
      }
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (res.result_int() != 200 || !Check(res.body())) {
        if (++errors <= 3)
          std::fprintf(stderr, "api_load: %u %s\n", res.result_int(),
                       res.body().substr(0, 400).c_str());
      }
      if (!res.keep_alive()) {
        stream_.reset();
        buffer_.clear();
        ++reconnects;
      }
      page_ = (page_ + 1) % c_.pages;
    }
  }

  // Reads the etcd side's page starts: page k begins after page k-1's last key.
  static std::vector<std::string> EtcdStarts(const Config& c) {
    Client probe(c, 0);
    std::vector<std::string> starts;
    std::string from = c.prefix;
    for (int k = 0; k < c.pages; ++k) {
      starts.push_back(from);
      probe.Connect();
      auto req = probe.EtcdRange(from);
      http::write(*probe.stream_, req);
      http::response<http::string_body> res;
      http::read(*probe.stream_, probe.buffer_, res);
      Json j = Json::parse(res.body());
      if (!j.contains("kvs") || j["kvs"].empty()) Die("etcd: no keys under the prefix");
      from = Base64Decode(j["kvs"].back()["key"].get<std::string>()) + std::string(1, '\0');
      probe.stream_.reset();
      probe.buffer_.clear();
    }
    return starts;
  }

  long errors = 0;
  long reconnects = 0;

 private:
  void Connect() {
    asio::ip::tcp::resolver resolver(io_);
    auto addresses = resolver.resolve(c_.host, c_.port);
    stream_ = std::make_unique<beast::tcp_stream>(io_);
    stream_->connect(addresses);
    stream_->socket().set_option(asio::ip::tcp::no_delay(true));
  }

  http::request<http::string_body> EtcdRange(const std::string& from) {
    Json body = {{"key", tg::api::Base64Encode(from)},
                 {"range_end", tg::api::Base64Encode(PrefixEnd(c_.prefix))},
                 {"limit", c_.page_size}};
    http::request<http::string_body> req{http::verb::post, "/v3/kv/range", 11};
    req.set(http::field::host, c_.host + ":" + c_.port);
    req.set(http::field::content_type, "application/json");
    req.body() = body.dump();
    req.prepare_payload();
    return req;
  }

  http::request<http::string_body> Build() {
    if (c_.etcd) return EtcdRange(c_.starts[page_]);
    std::map<std::string, std::string> params = {
        {"Action", "DescribeInstances"},
        {"Version", "2014-05-26"},
        {"Format", "JSON"},
        {"RegionId", "cn-tiangong"},
        {"PageSize", std::to_string(c_.page_size)},
        {"PageNumber", std::to_string(page_ + 1)},
        {"AccessKeyId", c_.access_key_id},
        {"SignatureMethod", std::string(tg::api::kV1Method)},
        {"SignatureVersion", std::string(tg::api::kV1Version)},
        {"SignatureNonce", fmt::format("{:016x}{:016x}", rng_(), rng_())},
        {"Timestamp", Timestamp()},
    };
    params["Signature"] = tg::api::SignV1("GET", params, c_.secret).signature;
    std::string target = "/?";
    for (const auto& [k, v] : params) {
      if (target.size() > 2) target += '&';
      target += tg::api::PercentEncode(k) + "=" + tg::api::PercentEncode(v);
    }
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set(http::field::host, c_.host + ":" + c_.port);
    req.set(http::field::user_agent, "tiangong-bench");
    return req;
  }

  // The first answer of each page in full; the rest pass.
  bool Check(const std::string& body) {
    if (checked_[page_]) return true;
    checked_[page_] = true;
    Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded()) return false;
    size_t items = 0;
    long total = -1;
    if (c_.etcd) {
      items = j.contains("kvs") ? j["kvs"].size() : 0;
      total = j.contains("count") ? std::stol(j["count"].get<std::string>()) : -1;
      // etcd counts the keys from the range's start on.
      total += static_cast<long>(page_) * c_.page_size;
    } else {
      items = j["Instances"]["Instance"].size();
      total = j.value("TotalCount", -1L);
    }
    const size_t want =
        static_cast<size_t>(std::min(c_.page_size, std::max(0, c_.total - page_ * c_.page_size)));
    if (items != want || total != c_.total) {
      std::fprintf(stderr, "api_load: page %d has %zu items of %ld, expected %zu of %d\n",
                   page_ + 1, items, total, want, c_.total);
      return false;
    }
    return true;
  }

  const Config& c_;
  int page_;
  std::mt19937_64 rng_;
  std::vector<bool> checked_;
  asio::io_context io_;
  std::unique_ptr<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

double Percentile(std::vector<double>& xs, double p) {
  if (xs.empty()) return 0;
  const size_t k = std::min(xs.size() - 1, static_cast<size_t>(p / 100.0 * (xs.size() - 1) + 0.5));
  std::nth_element(xs.begin(), xs.begin() + static_cast<long>(k), xs.end());
  return xs[k];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 9) {
    Die("usage: api_load api|etcd HOST:PORT THREADS SECONDS PAGES PAGE_SIZE TOTAL "
        "(AK SECRET | PREFIX)");
  }
  Config c;
  const std::string mode = argv[1];
  if (mode != "api" && mode != "etcd") Die("mode must be api or etcd");
  c.etcd = mode == "etcd";
  const std::string target = argv[2];
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) Die("HOST:PORT expected");
  c.host = target.substr(0, colon);
  c.port = target.substr(colon + 1);
  c.threads = std::atoi(argv[3]);
  c.seconds = std::atof(argv[4]);
  c.pages = std::atoi(argv[5]);
  c.page_size = std::atoi(argv[6]);
  c.total = std::atoi(argv[7]);
  if (c.threads < 1 || c.seconds <= 0 || c.pages < 1 || c.page_size < 1) Die("bad numbers");
  if (c.etcd) {
    c.prefix = argv[8];
    c.starts = Client::EtcdStarts(c);
  } else {
    if (argc < 10) Die("api needs AK SECRET");
    c.access_key_id = argv[8];
    c.secret = argv[9];
  }

  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::vector<double>> latencies(static_cast<size_t>(c.threads));
  for (int i = 0; i < c.threads; ++i) clients.push_back(std::make_unique<Client>(c, i));
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c.seconds));
  std::vector<std::thread> threads;
  for (int i = 0; i < c.threads; ++i) {
    threads.emplace_back([&, i] {
      try {
        clients[static_cast<size_t>(i)]->Run(start, end, latencies[static_cast<size_t>(i)]);
      } catch (const std::exception& e) {
        Die(fmt::format("client {}: {}", i, e.what()));
      }
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  long errors = 0, reconnects = 0;
  for (int i = 0; i < c.threads; ++i) {
    all.insert(all.end(), latencies[static_cast<size_t>(i)].begin(),
               latencies[static_cast<size_t>(i)].end());
    errors += clients[static_cast<size_t>(i)]->errors;
    reconnects += clients[static_cast<size_t>(i)]->reconnects;
  }
  const double mx = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  Json out = {{"requests", all.size()},
              {"errors", errors},
              {"reconnects", reconnects},
              {"seconds", elapsed},
              {"rps", static_cast<double>(all.size()) / elapsed},
              {"p50_ms", Percentile(all, 50)},
              {"p99_ms", Percentile(all, 99)},
              {"max_ms", mx}};
  std::cout << out.dump() << std::endl;
  return errors == 0 ? 0 : 3;
}
