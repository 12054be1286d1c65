// Parsing the VPC records into one state: all or nothing. A record that
// does not decode, of a newer format, with an unknown value, or under a key
// naming another id fails the whole parse, naming its key.
#include "network/model/network_state.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/json_record.h"
#include "support/test_util.h"

namespace tg::network {
namespace {

struct Record {
  std::string key, value;
  int64_t mod_revision = 1;
};

std::vector<Record> GoodRecords() {
  Vpc vpc{.id = "vpc-a", .name = "one", .cidr = *ParseCidr("10.0.0.0/16"), .vni = 1001};
  VSwitch vsw{.id = "vsw-a",
              .name = "",
              .vpc_id = "vpc-a",
              .cidr = *ParseCidr("10.0.1.0/24"),
              .zone = "z1"};
  SecurityGroup sg{.id = "sg-a", .name = "web", .vpc_id = "vpc-a"};
  sg.rules.push_back({.direction = Direction::kIngress,
                      .protocol = Protocol::kTcp,
                      .ports = *ParsePortRange("80/80", Protocol::kTcp),
                      .cidr = *ParseCidr("0.0.0.0/0"),
                      .priority = 1});
  NetworkInterface eni{.id = "eni-a",
                       .vswitch_id = "vsw-a",
                       .vpc_id = "vpc-a",
                       .mac = *ParseMac("02:00:00:00:00:01"),
                       .ip = *ParseIpv4("10.0.1.1"),
                       .security_groups = {"sg-a"},
                       .host = "h1"};
  Eip eip{.id = "eip-a", .address = *ParseIpv4("203.0.113.5"), .host = "gw1"};
  return {{VpcKey(vpc.id), Encode(vpc), 5},
          {VSwitchKey(vsw.id), Encode(vsw)},
          {SecurityGroupKey(sg.id), Encode(sg)},
          {InterfaceKey(eni.id), Encode(eni)},
          {AddressKey("vsw-a", eni.ip), "eni-a"},
          {EipKey(eip.id), Encode(eip)},
          {std::string(kHostsPrefix) + "h1", "192.0.2.1"},
          {std::string(kGatewayHostsPrefix) + "gw1", "eth1"},
          {std::string(kNetworkPrefix) + "something-newer/x", "anything"}};
}

TEST(NetworkState, EveryKindParsesAndUnknownKeysAreLeftAlone) {
  auto st = ParseNetworkState(GoodRecords(), 9);
  ASSERT_OK(st.status());
  EXPECT_EQ(st->revision, 9);
  ASSERT_EQ(st->vpcs.count("vpc-a"), 1u);
  EXPECT_EQ(st->vpcs.at("vpc-a").revision, 5);
  EXPECT_EQ(st->vswitches.count("vsw-a"), 1u);
  EXPECT_EQ(st->security_groups.at("sg-a").value.rules.size(), 1u);
  EXPECT_EQ(st->interfaces.at("eni-a").value.host, "h1");
  EXPECT_EQ(st->used_addresses.at("vsw-a").count(*ParseIpv4("10.0.1.1")), 1u);
  EXPECT_EQ(st->eips.count("eip-a"), 1u);
  EXPECT_EQ(st->tunnels.at("h1"), *ParseIpv4("192.0.2.1"));
  EXPECT_EQ(st->gateway_hosts.count("gw1"), 1u);
}

TEST(NetworkState, EncodersStampTheFormatTheyWrite) {
  for (const auto& r : GoodRecords()) {
    if (!r.value.starts_with("{")) continue;
    auto j = nlohmann::json::parse(r.value);
    EXPECT_EQ(j.value(kRecordFormatField, 0), kRecordFormat) << r.key;
  }
}

// `change` applied to the value of the record under `key`.
std::vector<Record> With(const std::string& key, const std::function<void(std::string&)>& change) {
  auto records = GoodRecords();
  for (auto& r : records)
    if (r.key == key) change(r.value);
  return records;
}

void ExpectRefused(const std::vector<Record>& records, const std::string& key, ErrorCode code) {
  auto st = ParseNetworkState(records, 9);
  ASSERT_FALSE(st.ok()) << key;
  EXPECT_EQ(st.status().code(), code) << st.status();
  EXPECT_NE(st.status().message().find(key), std::string::npos) << st.status();
}

TEST(NetworkState, ARecordThatDoesNotDecodeFailsTheWholeParse) {
  const std::string eni = InterfaceKey("eni-a"), sg = SecurityGroupKey("sg-a");
  ExpectRefused(With(eni, [](std::string& v) { v.resize(v.size() / 2); }), eni,
                ErrorCode::kInvalidArgument);
  ExpectRefused(With(eni, [](std::string& v) { v = "[]"; }), eni, ErrorCode::kInvalidArgument);
  // A newer format than this binary knows: refused, not read as an old one.
  ExpectRefused(With(eni,
                     [](std::string& v) {
                       auto j = nlohmann::json::parse(v);
                       j[kRecordFormatField] = kRecordFormat + 1;
                       v = j.dump();
                     }),
                eni, ErrorCode::kFailedPrecondition);
  // Unknown values are errors, not defaults.
  auto replace = [](std::string from, std::string to) {
    return [from, to](std::string& v) {
      const size_t at = v.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      v.replace(at, from.size(), to);
    };
  };
  ExpectRefused(With(sg, replace("\"accept\"", "\"maybe\"")), sg, ErrorCode::kInvalidArgument);
  ExpectRefused(With(sg, replace("\"ingress\"", "\"sideways\"")), sg, ErrorCode::kInvalidArgument);
  ExpectRefused(With(eni, replace("\"tap\"", "\"carrier-pigeon\"")), eni,
                ErrorCode::kInvalidArgument);
  // A queue count or VNI that a narrowing read would wrap into range.
  ExpectRefused(With(eni, replace("\"queues\":1", "\"queues\":65537")), eni,
                ErrorCode::kInvalidArgument);
  const std::string vpc = VpcKey("vpc-a");
  ExpectRefused(With(vpc, replace("\"vni\":1001", "\"vni\":4294968297")), vpc,
                ErrorCode::kInvalidArgument);
  // A record under a key naming another id.
  ExpectRefused(With(eni, replace("\"id\":\"eni-a\"", "\"id\":\"eni-b\"")), eni,
                ErrorCode::kInvalidArgument);
  // A host's underlay address and an address key that do not parse.
  const std::string host = std::string(kHostsPrefix) + "h1";
  ExpectRefused(With(host, [](std::string& v) { v = "192.0.2"; }), host,
                ErrorCode::kInvalidArgument);
  auto records = GoodRecords();
  records.push_back({std::string(kAddressesPrefix) + "vsw-a/10.0.1.x", "eni-b"});
  ExpectRefused(records, records.back().key, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tg::network
