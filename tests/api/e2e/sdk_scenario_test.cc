// The acceptance scenario, end to end through the official Alibaba
// Cloud SDKs (tests/api/sdk/call.js): a whole cloud of real processes
// (compute_cluster.h: etcd, storage, two compute hosts and a gateway node
// with an uplink to an "external" namespace) plus one more `tiangong server`
// that serves the API on loopback over HTTP and HTTPS. A tenant made with the
// admin CLI builds a VPC, a vSwitch and a security group, runs two busybox
// guests that ping each other, reads their console, stops, starts and
// reboots one, moves data between them on a disk and a snapshot, reaches
// one from outside through an EIP, lets the other out through SNAT and in
// through a forwarded port, and deletes everything again, each step seen
// through the API and, where it matters, inside the guests.
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>

#include "api/http/self_signed.h"
#include "cli/cli_test_util.h"
#include "compute/e2e/compute_cluster.h"

namespace tg::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The "external" network: the gateway's uplink peer is its router.
constexpr char kPublicCidr[] = "203.0.113.0/24";
constexpr char kPublicRouter[] = "203.0.113.1";
// A server there answers every TCP connection with the address it came from.
constexpr int kEchoPort = 8080;
// What the test writes on the data disk and reads back from its copy.
constexpr char kPattern[] = "tiangong-api-scenario-pattern";

std::string Base64Decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, buffer = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // padding, line breaks
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The time since `start`, for the phase timings the test prints.
double Seconds(TimePoint start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

class SdkScenario : public ::testing::Test {
 protected:
  SdkScenario() : cluster_(io_, 3) {}

  void SetUp() override {
    const TimePoint start = Clock::now();
    ASSERT_TRUE(cluster_.ok()) << "could not build the underlay (needs root)";
    for (int i = 1; i <= 2; ++i) ASSERT_OK(cluster_.StartNode(i));
    ASSERT_NO_FATAL_FAILURE(StartGatewayNode());
    Status nodes = RunTask(io_, cluster_.WaitForNodes(2, 60s));
    ASSERT_TRUE(nodes.ok()) << nodes << "\n" << ReadFile(cluster_.NodeLog(1));
    // The admin's part: the system image, the public pool, a tenant and its key.
    auto image = RunTask(io_, cluster_.ImportImage());
    ASSERT_OK(image.status());
    image_ = *image;
    std::vector<std::string> pool = {"eip",       "pool",     "set",        "--cidr",
                                     kPublicCidr, "--router", kPublicRouter};
    ASSERT_OK(RunTask(io_, cluster_.Cli(pool)).status());
    std::vector<std::string> account = {"account", "create", "tenant"};
    ASSERT_OK(RunTask(io_, cluster_.Cli(account)).status());
    std::vector<std::string> key = {"accesskey", "create", "tenant"};
    auto made = RunTask(io_, cluster_.Cli(key));
    ASSERT_OK(made.status());
    const json k = json::parse(*made);
    key_id_ = k.at("AccessKeyId");
    key_secret_ = k.at("AccessKeySecret");
    ASSERT_NO_FATAL_FAILURE(StartApiServer());
    std::cout << fmt::format("[timing] setup (nodes, image, pool, account, API): {:.1f} s\n",
                             Seconds(start));
  }

  void TearDown() override {
    // What the API server logged above info (warnings, errors), for the record.
    std::istringstream log(ReadFile(api_log_));
    for (std::string line; std::getline(log, line);) {
      if (line.size() > 24 && (line[24] == 'W' || line[24] == 'E'))
        std::cout << "[api log] " << line << "\n";
    }
    if (echo_server_) (void)echo_server_->Stop(5s);
    if (api_) (void)api_->Stop(20s);
    if (gateway_) (void)gateway_->Stop(20s);
  }

  // Host 3: a vSwitch with the gateway role, its uplink up0 a veth whose
  // other end is eth0 of the "ext" namespace (the public router).
  void StartGatewayNode() {
    Underlay& net = cluster_.net();
    ASSERT_TRUE(net.AddNamespace("ext"));
    ext_ = net.ns("ext");
    const std::string gw = net.host_ns(3);
    for (const std::string& cmd :
         {fmt::format("ip -n {} link add up0 type veth peer name eth0 netns {}", gw, ext_),
          fmt::format("ip -n {} link set up0 up", gw),
          fmt::format("ip -n {} addr add {}/24 dev eth0", ext_, kPublicRouter),
          fmt::format("ip -n {} link set eth0 up", ext_)}) {
      ASSERT_TRUE(Sh(cmd)) << cmd;
    }
    std::vector<std::string> argv = {"ip",
                                     "netns",
                                     "exec",
                                     gw,
                                     TiangongBinary(),
                                     "node",
                                     "--name",
                                     "h3",
                                     "--vswitch",
                                     "--gateway-uplink",
                                     "up0",
                                     "--tunnel-ip",
                                     net.host_ip(3),
                                     "--vswitch-state",
                                     cluster_.dir() + "/vswitch3.json",
                                     "--vhost-net-dir",
                                     cluster_.dir() + "/vhost3",
                                     "--etcd",
                                     cluster_.etcd_url()};
    auto p = ChildProcess::Spawn({.argv = argv, .output_path = cluster_.NodeLog(3)});
    ASSERT_OK(p.status());
    gateway_ = std::move(*p);
  }

  void StartApiServer() {
    ca_ = cluster_.dir() + "/api-cert.pem";
    const std::string key = cluster_.dir() + "/api-key.pem";
    ASSERT_OK(api::WriteSelfSignedCertificate(ca_, key, {"127.0.0.1", "localhost"}, 2));
    endpoint_ = fmt::format("127.0.0.1:{}", FreePort());
    tls_endpoint_ = fmt::format("127.0.0.1:{}", FreePort());
    api_log_ = cluster_.dir() + "/api-server.log";
    auto p = ChildProcess::Spawn(
        {.argv = {TiangongBinary(), "server", "--etcd", cluster_.storage().etcd_url(), "--name",
                  "api", "--lease-ttl", "2", "--api-listen", endpoint_, "--api-tls-listen",
                  tls_endpoint_, "--api-tls-cert", ca_, "--api-tls-key", key, "--api-rate", "0"},
         .output_path = api_log_});
    ASSERT_OK(p.status());
    api_ = std::move(*p);
    // Ready once a signed call is answered.
    const TimePoint deadline = Clock::now() + 60s;
    json last;
    for (;;) {
      last = Ecs("DescribeRegions", json::object());
      if (last.contains("ok")) break;
      ASSERT_LT(Clock::now(), deadline) << last.dump() << "\n" << ReadFile(api_log_);
      std::this_thread::sleep_for(500ms);
    }
  }

  // --- Calls through the SDKs (call.js) ---------------------------------

  json Spec(const std::string& sdk, const std::string& product, const std::string& action,
            json params, bool https = false, const std::string& method = "GET") {
    json s = {{"sdk", sdk},
              {"product", product},
              {"action", action},
              {"params", std::move(params)},
              {"endpoint", https ? tls_endpoint_ : endpoint_},
              {"accessKeyId", key_id_},
              {"accessKeySecret", key_secret_}};
    if (sdk == "v3")
      s["params"]["regionId"] = "cn-tiangong";
    else
      s["params"]["RegionId"] = "cn-tiangong";
    if (sdk == "pop") s["method"] = method;
    if (https) {
      s["https"] = true;
      s["ca"] = ca_;
    }
    return s;
  }
  // One spec or an array of them: the answer (or the array of answers).
  json Run(const json& specs) {
    static int counter = 0;
    const int n = counter++;
    const std::string in = fmt::format("{}/call{}.json", cluster_.dir(), n);
    const std::string out = fmt::format("{}/call{}.out", cluster_.dir(), n);
    const std::string err = fmt::format("{}/call{}.err", cluster_.dir(), n);
    std::ofstream(in) << specs.dump();
    const std::string script = std::string(TG_SOURCE_DIR) + "/tests/api/sdk/call.js";
    auto child = ChildProcess::Spawn(
        {.argv = {"sh", "-c",
                  fmt::format("exec node {} < {} 2> {}", Quote(script), Quote(in), Quote(err))},
         .output_path = out});
    if (!child.ok()) return {{"error", {{"message", child.status().ToString()}}}};
    auto st = child->Wait(120s);
    const std::string printed = ReadFile(out);
    if (!st.ok() || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
      return {{"error", {{"message", "call.js failed: " + printed + ReadFile(err)}}}};
    auto parsed = json::parse(printed, nullptr, false);
    if (parsed.is_discarded()) return {{"error", {{"message", "not JSON: " + printed}}}};
    // Every error answer is shown, also the ones a wait retries past.
    const json& all = parsed.is_array() ? parsed : json::array({parsed});
    const json& asked = specs.is_array() ? specs : json::array({specs});
    for (size_t i = 0; i < all.size() && i < asked.size(); ++i) {
      if (!all[i].contains("error")) continue;
      const json& e = all[i]["error"];
      std::cout << fmt::format("[api error] {} {}: {} {}\n", asked[i].value("sdk", ""),
                               asked[i].value("action", ""), e.value("code", json()).dump(),
                               e.value("message", ""));
    }
    return parsed;
  }
  json Ecs(const std::string& action, json params) {
    return Run(Spec("v3", "ecs", action, std::move(params)));
  }
  json Vpc(const std::string& action, json params) {
    return Run(Spec("v3", "vpc", action, std::move(params)));
  }

  // Calls `call` until `done` holds for its reply or `timeout` passes: the
  // last answer (check "ok" and `done` again for the verdict).
  json Until(const std::function<json()>& call, const std::function<bool(const json&)>& done,
             Duration timeout) {
    const TimePoint deadline = Clock::now() + timeout;
    for (;;) {
      json a = call();
      if (a.contains("ok") && done(a["ok"])) return a;
      if (Clock::now() >= deadline) return a;
      std::this_thread::sleep_for(1s);
    }
  }
  static bool Done(const json& answer, const std::function<bool(const json&)>& done) {
    return answer.contains("ok") && done(answer["ok"]);
  }

  json DescribeInstances(const std::vector<std::string>& ids) {
    return Ecs("DescribeInstances", {{"instanceIds", json(ids).dump()}, {"pageSize", 100}});
  }
  // Whether every one of `ids` is listed with `status`.
  static bool AllAre(const json& reply, const std::vector<std::string>& ids,
                     const std::string& status) {
    const json& list = reply["Instances"]["Instance"];
    if (list.size() != ids.size()) return false;
    for (const auto& i : list)
      if (i.value("Status", "") != status) return false;
    return true;
  }
  json WaitInstances(const std::vector<std::string>& ids, const std::string& status,
                     Duration timeout = 180s) {
    return Until([&] { return DescribeInstances(ids); },
                 [&](const json& r) { return AllAre(r, ids, status); }, timeout);
  }
  json DescribeDisk(const std::string& id) {
    return Ecs("DescribeDisks", {{"diskIds", json({id}).dump()}});
  }
  json WaitDisk(const std::string& id, const std::string& status, Duration timeout = 60s) {
    return Until([&] { return DescribeDisk(id); },
                 [&](const json& r) {
                   return r["Disks"]["Disk"].size() == 1 &&
                          r["Disks"]["Disk"][0].value("Status", "") == status;
                 },
                 timeout);
  }

  // --- Guests ------------------------------------------------------------

  std::string RunDirOf(const std::string& id) {
    auto st = RunTask(io_, cluster_.ReadCompute());
    if (!st.ok() || !st->instances.contains(id)) return "";
    const std::string host = st->instances.at(id).value.host;
    if (host.size() < 2) return "";
    return cluster_.RunDir(std::stoi(host.substr(1)), id);
  }
  // Runs `command` on the guest's console (connected only for this).
  Result<std::string> OnConsole(const std::string& id, const std::string& command,
                                Duration timeout = 60s) {
    auto console = GuestConsole::Connect(RunDirOf(id), 10s);
    if (!console.ok()) return console.status();
    return console->Run(command, timeout);
  }
  // Until the guest has said "ready" `times` times (once per boot).
  bool WaitReady(const std::string& id, size_t times, Duration timeout = 240s) {
    return WaitForConsole(RunDirOf(id), "TG-GUEST: ready", timeout, times);
  }
  std::string Diagnose(const std::string& id) {
    return fmt::format("\nconsole of {}:\n{}\nAPI log:\n{}", id, ConsoleLog(RunDirOf(id)),
                       ReadFile(api_log_));
  }

  asio::io_context io_;
  ComputeCluster cluster_;
  std::optional<ChildProcess> gateway_, api_, echo_server_;
  std::string ext_, image_, key_id_, key_secret_, endpoint_, tls_endpoint_, ca_, api_log_;
};

// `var` = the reply of `expr`, which must have succeeded.
#define ASSERT_API(var, expr)                                                          \
  const json var##_answer = (expr);                                                    \
  ASSERT_TRUE(var##_answer.contains("ok")) << #expr << "\n-> " << var##_answer.dump(); \
  [[maybe_unused]] const json& var = var##_answer["ok"]

TEST_F(SdkScenario, ATenantBuildsUsesAndTearsDownACloudThroughTheSdks) {
  TimePoint phase = Clock::now();
  auto timing = [&](const std::string& what) {
    std::cout << fmt::format("[timing] {}: {:.1f} s\n", what, Seconds(phase));
    phase = Clock::now();
  };

  // --- The network ---------------------------------------------------------
  ASSERT_API(vpc, Vpc("CreateVpc", {{"cidrBlock", "192.168.0.0/16"}, {"vpcName", "scenario"}}));
  const std::string vpc_id = vpc.at("VpcId");
  {
    const json a = Until(
        [&] {
          return Vpc("DescribeVpcs", {{"vpcId", vpc_id}});
        },
        [](const json& r) {
          return r["Vpcs"]["Vpc"].size() == 1 &&
                 r["Vpcs"]["Vpc"][0].value("Status", "") == "Available";
        },
        30s);
    ASSERT_TRUE(Done(a, [](const json& r) { return r["Vpcs"]["Vpc"].size() == 1; })) << a.dump();
  }
  ASSERT_API(zones, Vpc("DescribeZones", json::object()));
  ASSERT_FALSE(zones["Zones"]["Zone"].empty()) << zones.dump();
  const std::string zone = zones["Zones"]["Zone"][0].at("ZoneId");
  const std::string subnet = "192.168.1.0/24";
  ASSERT_API(vsw, Vpc("CreateVSwitch", {{"vpcId", vpc_id},
                                        {"zoneId", zone},
                                        {"cidrBlock", subnet},
                                        {"vSwitchName", "scenario-vsw"}}));
  const std::string vsw_id = vsw.at("VSwitchId");
  ASSERT_API(sg, Ecs("CreateSecurityGroup", {{"vpcId", vpc_id}, {"securityGroupName", "web"}}));
  const std::string sg_id = sg.at("SecurityGroupId");
  ASSERT_API(
      rules,
      Ecs("AuthorizeSecurityGroup",
          {{"securityGroupId", sg_id},
           {"permissions",
            {{{"ipProtocol", "ICMP"}, {"portRange", "-1/-1"}, {"sourceCidrIp", subnet}},
             {{"ipProtocol", "TCP"}, {"portRange", "80/80"}, {"sourceCidrIp", "0.0.0.0/0"}}}}}));
  {
    ASSERT_API(attr, Ecs("DescribeSecurityGroupAttribute", {{"securityGroupId", sg_id}}));
    EXPECT_EQ(attr["Permissions"]["Permission"].size(), 2u) << attr.dump();
  }
  timing("VPC, vSwitch, security group and rules");

  // --- Two instances ---------------------------------------------------------
  ASSERT_API(run, Ecs("RunInstances", {{"imageId", image_},
                                       {"instanceType", "ecs.t6-c1m1.small"},
                                       {"vSwitchId", vsw_id},
                                       {"securityGroupId", sg_id},
                                       {"amount", 2},
                                       {"instanceName", "web[1,2]"}}));
  const json ids_json = run["InstanceIdSets"]["InstanceIdSet"];
  ASSERT_EQ(ids_json.size(), 2u) << run.dump();
  const std::vector<std::string> ids = {ids_json[0], ids_json[1]};
  const std::string i1 = ids[0], i2 = ids[1];
  json running = WaitInstances(ids, "Running");
  ASSERT_TRUE(Done(running, [&](const json& r) { return AllAre(r, ids, "Running"); }))
      << running.dump() << ReadFile(cluster_.NodeLog(1));
  std::map<std::string, std::string> ip, name;
  for (const auto& inst : running["ok"]["Instances"]["Instance"]) {
    const std::string id = inst.at("InstanceId");
    ip[id] = inst["VpcAttributes"]["PrivateIpAddress"]["IpAddress"].at(0);
    name[id] = inst.at("InstanceName");
    EXPECT_EQ(inst.value("ImageId", ""), image_);
    EXPECT_EQ(inst.value("InstanceType", ""), "ecs.t6-c1m1.small");
    EXPECT_EQ(inst["VpcAttributes"].value("VSwitchId", ""), vsw_id);
  }
  EXPECT_EQ(name[i1], "web01");
  EXPECT_EQ(name[i2], "web02");
  timing("RunInstances until both Running");
  ASSERT_TRUE(WaitReady(i1, 1)) << Diagnose(i1);
  ASSERT_TRUE(WaitReady(i2, 1)) << Diagnose(i2);
  timing("both guests booted (console ready)");

  // They ping each other (ICMP from the vSwitch's block is allowed).
  const std::string wait_lease =
      "for i in $(seq 60); do [ -e /run/tg/lease.eth0 ] && break; sleep 1; done; "
      "cat /run/tg/lease.eth0; ";
  for (const auto& [from, to] : {std::pair{i1, i2}, std::pair{i2, i1}}) {
    auto ping = OnConsole(from, wait_lease + "ping -c 3 -W 5 " + ip[to], 90s);
    ASSERT_OK(ping.status());
    EXPECT_NE(ping->find(ip[from]), std::string::npos) << "the lease is the API's address\n"
                                                       << *ping;
    EXPECT_NE(ping->find(" 0% packet loss"), std::string::npos) << *ping << Diagnose(from);
  }
  timing("guests ping each other");

  // The console output through the API: base64 of what the guest printed.
  {
    const json a = Until(
        [&] {
          return Ecs("GetInstanceConsoleOutput", {{"instanceId", i1}});
        },
        [](const json& r) {
          return Base64Decode(r.value("ConsoleOutput", "")).find("TG-GUEST: ready") !=
                 std::string::npos;
        },
        30s);
    ASSERT_TRUE(a.contains("ok")) << a.dump();
    const std::string text = Base64Decode(a["ok"].value("ConsoleOutput", ""));
    EXPECT_NE(text.find("TG-GUEST: ready"), std::string::npos) << a.dump();
    EXPECT_NE(text.find("TG-GUEST: eth0 " + ip[i1]), std::string::npos) << text;
    EXPECT_EQ(a["ok"].value("InstanceId", ""), i1);
  }
  timing("GetInstanceConsoleOutput");

  // --- The reads through pop-core (GET and POST) and over HTTPS --------------
  {
    const json answers = Run(json::array({
        Spec("pop", "ecs", "DescribeInstances", {{"InstanceIds", json(ids).dump()}}, false, "GET"),
        Spec("pop", "ecs", "DescribeInstances", {{"InstanceIds", json(ids).dump()}}, false, "POST"),
        Spec("pop", "vpc", "DescribeVpcs", {{"VpcId", vpc_id}}, false, "GET"),
        Spec("pop", "vpc", "DescribeVpcs", {{"VpcId", vpc_id}}, false, "POST"),
        Spec("pop", "ecs", "DescribeDisks", {{"InstanceId", i1}}, false, "GET"),
        Spec("pop", "ecs", "DescribeDisks", {{"InstanceId", i1}}, false, "POST"),
        Spec("v3", "ecs", "DescribeInstances", {{"instanceIds", json(ids).dump()}}, true),
        Spec("v3", "vpc", "DescribeVpcs", {{"vpcId", vpc_id}}, true),
        Spec("v3", "ecs", "DescribeDisks", {{"instanceId", i1}}, true),
        Spec("pop", "ecs", "DescribeInstances", {{"InstanceIds", json(ids).dump()}}, true, "POST"),
        Spec("pop", "vpc", "DescribeVpcs", {{"VpcId", vpc_id}}, true, "GET"),
        Spec("pop", "ecs", "DescribeDisks", {{"InstanceId", i1}}, true, "GET"),
    }));
    ASSERT_TRUE(answers.is_array() && answers.size() == 12) << answers.dump();
    const char* what[] = {"pop GET",  "pop POST",       "pop GET",       "pop POST",
                          "pop GET",  "pop POST",       "V3 HTTPS",      "V3 HTTPS",
                          "V3 HTTPS", "pop HTTPS POST", "pop HTTPS GET", "pop HTTPS GET"};
    for (size_t n = 0; n < answers.size(); ++n) {
      const json& a = answers[n];
      ASSERT_TRUE(a.contains("ok")) << what[n] << " call " << n << ": " << a.dump();
      const json& r = a["ok"];
      if (r.contains("Instances")) {
        EXPECT_EQ(r["Instances"]["Instance"].size(), 2u) << what[n] << ": " << r.dump();
        EXPECT_EQ(r.value("TotalCount", -1), 2) << what[n] << ": " << r.dump();
      } else if (r.contains("Vpcs")) {
        ASSERT_EQ(r["Vpcs"]["Vpc"].size(), 1u) << what[n] << ": " << r.dump();
        EXPECT_EQ(r["Vpcs"]["Vpc"][0].value("VpcId", ""), vpc_id);
        EXPECT_EQ(r["Vpcs"]["Vpc"][0]["VSwitchIds"]["VSwitchId"], json::array({vsw_id}))
            << r.dump();
      } else if (r.contains("Disks")) {
        ASSERT_EQ(r["Disks"]["Disk"].size(), 1u) << what[n] << ": " << r.dump();
        EXPECT_EQ(r["Disks"]["Disk"][0].value("Type", ""), "system") << r.dump();
        EXPECT_EQ(r["Disks"]["Disk"][0].value("Status", ""), "In_use") << r.dump();
      } else {
        ADD_FAILURE() << what[n] << " call " << n << ": unexpected reply " << r.dump();
      }
    }
  }
  timing("reads through pop-core GET/POST and over HTTPS");

  // --- Power: stop, start, reboot ------------------------------------------
  {
    ASSERT_API(stop, Ecs("StopInstance", {{"instanceId", i1}}));
    json stopped = WaitInstances({i1}, "Stopped", 120s);
    ASSERT_TRUE(Done(stopped, [&](const json& r) { return AllAre(r, {i1}, "Stopped"); }))
        << stopped.dump() << Diagnose(i1);
    ASSERT_API(start, Ecs("StartInstance", {{"instanceId", i1}}));
    json started = WaitInstances({i1}, "Running", 120s);
    ASSERT_TRUE(Done(started, [&](const json& r) { return AllAre(r, {i1}, "Running"); }))
        << started.dump() << Diagnose(i1);
    ASSERT_TRUE(WaitReady(i1, 2)) << "no second boot after the start" << Diagnose(i1);
    timing("StopInstance and StartInstance (second boot)");

    auto before = OnConsole(i1, "touch /tmp/before-reboot; cut -d' ' -f1 /proc/uptime");
    ASSERT_OK(before.status());
    ASSERT_API(reboot, Ecs("RebootInstance", {{"instanceId", i1}}));
    ASSERT_TRUE(WaitReady(i1, 3)) << "no third boot after the reboot" << Diagnose(i1);
    json rebooted = WaitInstances({i1}, "Running", 120s);
    ASSERT_TRUE(Done(rebooted, [&](const json& r) { return AllAre(r, {i1}, "Running"); }))
        << rebooted.dump();
    // A new boot: the initramfs's /tmp is fresh.
    auto after = OnConsole(i1, "ls /tmp/before-reboot 2>&1; cut -d' ' -f1 /proc/uptime");
    ASSERT_OK(after.status());
    EXPECT_NE(after->find("No such file"), std::string::npos) << *after;
    timing("RebootInstance (third boot)");
  }

  // --- Disks and snapshots ---------------------------------------------------
  ASSERT_API(
      disk,
      Ecs("CreateDisk",
          {{"zoneId", zone}, {"size", 1}, {"diskCategory", "cloud_auto"}, {"diskName", "data1"}}));
  const std::string disk1 = disk.at("DiskId");
  {
    json avail = WaitDisk(disk1, "Available");
    ASSERT_TRUE(avail.contains("ok")) << avail.dump();
  }
  ASSERT_API(attach, Ecs("AttachDisk", {{"instanceId", i1}, {"diskId", disk1}}));
  {
    json inuse = WaitDisk(disk1, "In_use");
    ASSERT_TRUE(Done(inuse, [](const json& r) {
      return r["Disks"]["Disk"].size() == 1 &&
             r["Disks"]["Disk"][0].value("Status", "") == "In_use";
    })) << inuse.dump();
    EXPECT_EQ(inuse["ok"]["Disks"]["Disk"][0].value("InstanceId", ""), i1);
  }
  const std::string wait_vdb =
      "for i in $(seq 60); do [ -e /sys/block/vdb ] && break; sleep 1; done; "
      "cat /sys/block/vdb/size; ";
  {
    auto wrote = OnConsole(i1,
                           wait_vdb + fmt::format("echo {} > /tmp/p && dd if=/tmp/p of=/dev/vdb "
                                                  "bs=4096 seek=16 count=1 conv=sync,fsync && "
                                                  "sync && echo written",
                                                  kPattern),
                           90s);
    ASSERT_OK(wrote.status());
    EXPECT_NE(wrote->find(std::to_string((1ull << 30) / 512)), std::string::npos)
        << "a 1 GiB disk: " << *wrote;
    ASSERT_NE(wrote->find("written\r"), std::string::npos) << *wrote << Diagnose(i1);
  }
  timing("CreateDisk, AttachDisk, the guest writes");
  ASSERT_API(snap, Ecs("CreateSnapshot", {{"diskId", disk1}, {"snapshotName", "pattern"}}));
  const std::string snap_id = snap.at("SnapshotId");
  {
    json done = Until(
        [&] {
          return Ecs("DescribeSnapshots", {{"snapshotIds", json({snap_id}).dump()}});
        },
        [](const json& r) {
          return r["Snapshots"]["Snapshot"].size() == 1 &&
                 r["Snapshots"]["Snapshot"][0].value("Status", "") == "accomplished";
        },
        60s);
    ASSERT_TRUE(Done(done, [](const json& r) {
      return r["Snapshots"]["Snapshot"].size() == 1 &&
             r["Snapshots"]["Snapshot"][0].value("Status", "") == "accomplished";
    })) << done.dump();
    EXPECT_EQ(done["ok"]["Snapshots"]["Snapshot"][0].value("SourceDiskId", ""), disk1);
  }
  ASSERT_API(detach, Ecs("DetachDisk", {{"instanceId", i1}, {"diskId", disk1}}));
  {
    json avail = WaitDisk(disk1, "Available", 90s);
    ASSERT_TRUE(Done(avail, [](const json& r) {
      return r["Disks"]["Disk"].size() == 1 &&
             r["Disks"]["Disk"][0].value("Status", "") == "Available";
    })) << avail.dump();
    auto gone = OnConsole(
        i1, "for i in $(seq 30); do [ -e /sys/block/vdb ] || break; sleep 1; done; ls /sys/block");
    ASSERT_OK(gone.status());
    EXPECT_EQ(gone->find("vdb"), std::string::npos) << "unplugged in the guest: " << *gone;
  }
  ASSERT_API(resize, Ecs("ResizeDisk", {{"diskId", disk1}, {"newSize", 2}}));
  {
    ASSERT_API(grown, DescribeDisk(disk1));
    ASSERT_EQ(grown["Disks"]["Disk"].size(), 1u) << grown.dump();
    EXPECT_EQ(grown["Disks"]["Disk"][0].value("Size", 0), 2) << grown.dump();
  }
  ASSERT_API(copy, Ecs("CreateDisk", {{"zoneId", zone},
                                      {"snapshotId", snap_id},
                                      {"diskCategory", "cloud_auto"},
                                      {"diskName", "copy"}}));
  const std::string disk2 = copy.at("DiskId");
  ASSERT_TRUE(WaitDisk(disk2, "Available").contains("ok"));
  ASSERT_API(attach2, Ecs("AttachDisk", {{"instanceId", i2}, {"diskId", disk2}}));
  {
    json inuse = WaitDisk(disk2, "In_use");
    ASSERT_TRUE(Done(inuse, [](const json& r) {
      return r["Disks"]["Disk"].size() == 1 &&
             r["Disks"]["Disk"][0].value("Status", "") == "In_use";
    })) << inuse.dump();
    auto read = OnConsole(
        i2, wait_vdb + "dd if=/dev/vdb bs=4096 skip=16 count=1 2>/dev/null | head -n 1", 90s);
    ASSERT_OK(read.status());
    EXPECT_NE(read->find(kPattern), std::string::npos)
        << "the copy of the snapshot holds the pattern: " << *read << Diagnose(i2);
  }
  // The grown disk back on instance 1: the guest sees 2 GiB, the data kept.
  ASSERT_API(reattach, Ecs("AttachDisk", {{"instanceId", i1}, {"diskId", disk1}}));
  {
    json inuse = WaitDisk(disk1, "In_use");
    ASSERT_TRUE(inuse.contains("ok")) << inuse.dump();
    auto read = OnConsole(
        i1, wait_vdb + "dd if=/dev/vdb bs=4096 skip=16 count=1 2>/dev/null | head -n 1", 90s);
    ASSERT_OK(read.status());
    EXPECT_NE(read->find(std::to_string((2ull << 30) / 512)), std::string::npos)
        << "the resized disk is 2 GiB in the guest: " << *read;
    EXPECT_NE(read->find(kPattern), std::string::npos) << *read;
  }
  timing("snapshot, detach, resize, a disk from the snapshot read on the other guest");

  // --- An EIP on instance 1: reached from outside -----------------------------
  // The gateway node may still be registering: until then, NoStock.
  const json eip1_answer = Until([&] { return Vpc("AllocateEipAddress", json::object()); },
                                 [](const json&) { return true; }, 60s);
  ASSERT_TRUE(eip1_answer.contains("ok")) << eip1_answer.dump() << ReadFile(cluster_.NodeLog(3));
  const std::string eip1 = eip1_answer["ok"].at("AllocationId");
  const std::string eip1_ip = eip1_answer["ok"].at("EipAddress");
  ASSERT_API(assoc1,
             Vpc("AssociateEipAddress",
                 {{"allocationId", eip1}, {"instanceId", i1}, {"instanceType", "EcsInstance"}}));
  {
    ASSERT_API(shown, DescribeInstances({i1}));
    EXPECT_EQ(shown["Instances"]["Instance"][0]["EipAddress"].value("IpAddress", ""), eip1_ip)
        << shown.dump();
  }
  auto serve = [&](const std::string& id, const std::string& text) {
    return OnConsole(id,
                     fmt::format("mkdir -p /www && echo {} > /www/index.html && "
                                 "(pidof httpd >/dev/null || httpd -p 80 -h /www) && echo serving",
                                 text));
  };
  // From outside: a TCP connection to port 80 (allowed from 0.0.0.0/0).
  auto fetch_from_ext = [&](const std::string& url) {
    std::string out;
    for (int i = 0; i < 30 && out.find("answer-") == std::string::npos; ++i) {
      out = cluster_.net().Run("ext", "timeout 5 busybox wget -q -O - " + url + " 2>&1");
      if (out.find("answer-") == std::string::npos) std::this_thread::sleep_for(1s);
    }
    return out;
  };
  {
    auto served = serve(i1, "answer-from-web01");
    ASSERT_OK(served.status());
    ASSERT_NE(served->find("serving"), std::string::npos) << *served;
    const std::string got = fetch_from_ext(fmt::format("http://{}/", eip1_ip));
    EXPECT_NE(got.find("answer-from-web01"), std::string::npos)
        << "the EIP from the external network: " << got << ReadFile(cluster_.NodeLog(3));
  }
  // The security group lets ICMP in from the vSwitch's block only: an echo
  // request from outside reaches the EIP's guest and is dropped there.
  EXPECT_FALSE(cluster_.net().PingOnce("ext", eip1_ip))
      << "ICMP from outside the vSwitch's block passed the security group";
  timing("EIP on instance 1, reached from outside");

  // --- A NAT gateway: SNAT out for instance 2, a forwarded port in -----------
  ASSERT_API(nat, Vpc("CreateNatGateway", {{"vpcId", vpc_id},
                                           {"vSwitchId", vsw_id},
                                           {"natType", "Enhanced"},
                                           {"name", "scenario-nat"}}));
  const std::string nat_id = nat.at("NatGatewayId");
  const std::string snat_table = nat["SnatTableIds"]["SnatTableId"].at(0);
  const std::string forward_table = nat["ForwardTableIds"]["ForwardTableId"].at(0);
  ASSERT_API(eip2_made, Vpc("AllocateEipAddress", json::object()));
  const std::string eip2 = eip2_made.at("AllocationId");
  const std::string eip2_ip = eip2_made.at("EipAddress");
  ASSERT_API(assoc2,
             Vpc("AssociateEipAddress",
                 {{"allocationId", eip2}, {"instanceId", nat_id}, {"instanceType", "Nat"}}));
  ASSERT_API(snat,
             Vpc("CreateSnatEntry",
                 {{"snatTableId", snat_table}, {"snatIp", eip2_ip}, {"sourceVSwitchId", vsw_id}}));
  const std::string snat_id = snat.at("SnatEntryId");
  {
    // The echo server on the external network.
    const std::string script = cluster_.dir() + "/echo_source.py";
    std::ofstream(script) << fmt::format(
        "import socket\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('{}', {}))\n"
        "s.listen(8)\n"
        "while True:\n"
        "    c, a = s.accept()\n"
        "    c.sendall(('from=' + a[0] + '\\n').encode())\n"
        "    c.close()\n",
        kPublicRouter, kEchoPort);
    auto p = ChildProcess::Spawn({.argv = {"ip", "netns", "exec", ext_, "python3", script},
                                  .output_path = cluster_.dir() + "/echo_source.log"});
    ASSERT_OK(p.status());
    echo_server_ = std::move(*p);
    ASSERT_TRUE(cluster_.net().WaitForListener("ext", kEchoPort));
    auto seen = OnConsole(
        i2,
        fmt::format("for i in $(seq 20); do o=$(nc -w 3 {} {}); [ -n \"$o\" ] && break; sleep 1; "
                    "done; echo \"seen-$o\"",
                    kPublicRouter, kEchoPort),
        90s);
    ASSERT_OK(seen.status());
    EXPECT_NE(seen->find("seen-from=" + eip2_ip), std::string::npos)
        << "instance 2 leaves through SNAT as the NAT gateway's EIP " << eip2_ip << ": " << *seen
        << ReadFile(cluster_.NodeLog(3));
  }
  timing("NAT gateway with SNAT: instance 2 reaches the external network");
  ASSERT_API(fwd, Vpc("CreateForwardEntry", {{"forwardTableId", forward_table},
                                             {"externalIp", eip2_ip},
                                             {"externalPort", "8080"},
                                             {"internalIp", ip[i2]},
                                             {"internalPort", "80"},
                                             {"ipProtocol", "TCP"}}));
  const std::string fwd_id = fwd.at("ForwardEntryId");
  {
    auto served = serve(i2, "answer-from-web02");
    ASSERT_OK(served.status());
    ASSERT_NE(served->find("serving"), std::string::npos) << *served;
    const std::string got = fetch_from_ext(fmt::format("http://{}:8080/", eip2_ip));
    EXPECT_NE(got.find("answer-from-web02"), std::string::npos)
        << "DNAT from " << eip2_ip << ":8080 to " << ip[i2] << ":80: " << got
        << ReadFile(cluster_.NodeLog(3));
  }
  timing("forward entry: the external network reaches instance 2's port 80");

  // --- Cleanup in dependency order, each checked gone ---------------------------
  // The gateway side in one SDK run (one node process: the calls run in
  // order), each delete followed by the read that shows it gone.
  {
    auto vpc_call = [&](const std::string& action, json params) {
      return Spec("v3", "vpc", action, std::move(params));
    };
    const json answers = Run(json::array({
        vpc_call("DeleteForwardEntry",
                 {{"forwardTableId", forward_table}, {"forwardEntryId", fwd_id}}),
        vpc_call("DescribeForwardTableEntries", {{"forwardTableId", forward_table}}),
        vpc_call("DeleteSnatEntry", {{"snatTableId", snat_table}, {"snatEntryId", snat_id}}),
        vpc_call("DescribeSnatTableEntries", {{"snatTableId", snat_table}}),
        vpc_call("UnassociateEipAddress",
                 {{"allocationId", eip2}, {"instanceId", nat_id}, {"instanceType", "Nat"}}),
        vpc_call("UnassociateEipAddress", {{"allocationId", eip1}, {"instanceId", i1}}),
        vpc_call("ReleaseEipAddress", {{"allocationId", eip1}}),
        vpc_call("ReleaseEipAddress", {{"allocationId", eip2}}),
        vpc_call("DescribeEipAddresses", json::object()),
        vpc_call("DeleteNatGateway", {{"natGatewayId", nat_id}}),
        vpc_call("DescribeNatGateways", {{"vpcId", vpc_id}}),
    }));
    ASSERT_TRUE(answers.is_array() && answers.size() == 11) << answers.dump();
    for (size_t n = 0; n < answers.size(); ++n)
      ASSERT_TRUE(answers[n].contains("ok"))
          << "gateway cleanup call " << n << ": " << answers[n].dump();
    EXPECT_TRUE(answers[1]["ok"]["ForwardTableEntries"]["ForwardTableEntry"].empty())
        << answers[1].dump();
    EXPECT_TRUE(answers[3]["ok"]["SnatTableEntries"]["SnatTableEntry"].empty())
        << answers[3].dump();
    EXPECT_TRUE(answers[8]["ok"]["EipAddresses"]["EipAddress"].empty()) << answers[8].dump();
    EXPECT_TRUE(answers[10]["ok"]["NatGateways"]["NatGateway"].empty()) << answers[10].dump();
  }
  for (const std::string& id : ids) {
    ASSERT_API(del, Ecs("DeleteInstance", {{"instanceId", id}, {"force", true}}));
  }
  {
    ASSERT_API(left, DescribeInstances(ids));
    EXPECT_TRUE(left["Instances"]["Instance"].empty()) << left.dump();
  }
  for (const std::string& id : ids) ASSERT_OK(RunTask(io_, cluster_.WaitGone(id, 120s)));
  // disk2 was attached to instance 2: whether it went with it or stayed
  // Available, after this both are gone.
  for (const std::string& d : {disk1, disk2}) {
    json a = DescribeDisk(d);
    ASSERT_TRUE(a.contains("ok")) << a.dump();
    std::cout << fmt::format(
        "[info] disk {} after the instances: {}\n", d,
        a["ok"]["Disks"]["Disk"].empty() ? "gone with its instance" : "still there");
    if (a["ok"]["Disks"]["Disk"].empty()) continue;
    json avail = WaitDisk(d, "Available", 60s);
    ASSERT_TRUE(avail.contains("ok")) << avail.dump();
    ASSERT_API(ddel, Ecs("DeleteDisk", {{"diskId", d}}));
  }
  {
    ASSERT_API(left, Ecs("DescribeDisks", json::object()));
    EXPECT_TRUE(left["Disks"]["Disk"].empty()) << left.dump();
  }
  ASSERT_API(dsnap, Ecs("DeleteSnapshot", {{"snapshotId", snap_id}}));
  {
    ASSERT_API(left, Ecs("DescribeSnapshots", json::object()));
    EXPECT_TRUE(left["Snapshots"]["Snapshot"].empty()) << left.dump();
  }
  // The instances' interfaces go with their teardown on the hosts: the
  // security group and the vSwitch may be refused (DependencyViolation) a
  // moment longer.
  auto deleted = [&](const std::function<json()>& call) {
    return Until(
        call, [](const json&) { return true; }, 60s);
  };
  {
    json a = deleted([&] { return Ecs("DeleteSecurityGroup", {{"securityGroupId", sg_id}}); });
    ASSERT_TRUE(a.contains("ok")) << a.dump();
    ASSERT_API(left, Ecs("DescribeSecurityGroups", {{"vpcId", vpc_id}}));
    EXPECT_TRUE(left["SecurityGroups"]["SecurityGroup"].empty()) << left.dump();
  }
  {
    json a = deleted([&] { return Vpc("DeleteVSwitch", {{"vSwitchId", vsw_id}}); });
    ASSERT_TRUE(a.contains("ok")) << a.dump();
    ASSERT_API(left, Vpc("DescribeVSwitches", {{"vpcId", vpc_id}}));
    EXPECT_TRUE(left["VSwitches"]["VSwitch"].empty()) << left.dump();
  }
  ASSERT_API(dvpc, Vpc("DeleteVpc", {{"vpcId", vpc_id}}));
  {
    ASSERT_API(left, Vpc("DescribeVpcs", json::object()));
    EXPECT_TRUE(left["Vpcs"]["Vpc"].empty()) << left.dump();
  }
  timing("cleanup");
}

}  // namespace
}  // namespace tg::testing
