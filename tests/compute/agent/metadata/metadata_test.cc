// The metadata service's content: crawled the way cloud-init's AliYun
// datasource does (the dated version first, every listed name fetched),
// user data decoded, unknown paths not found, and each interface answered
// with its own instance's data only, even when VPCs overlap.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compute/agent/metadata/metadata_responder.h"
#include "compute/model/base64.h"
#include "network/datapath/metadata_tcp.h"

namespace tg::compute {
namespace {

constexpr std::string_view kKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEz1 user@host";

InstanceMetadata Sample(std::string id = "i-a1", std::string eni = "eni-a1",
                        std::string vpc = "vpc-1") {
  InstanceMetadata md;
  md.instance.id = std::move(id);
  md.instance.name = "web";
  md.instance.hostname = "web-1";
  md.instance.type = "ecs.t6-c1m1.large";
  md.instance.image = "m-deb12";
  md.instance.zone = "z1";
  md.instance.user_data = EncodeBase64("#cloud-config\nhostname: web-1\n");
  md.eni.id = std::move(eni);
  md.eni.vpc_id = std::move(vpc);
  md.eni.vswitch_id = "vsw-1";
  md.eni.mac = *network::ParseMac("02:00:00:00:00:0a");
  md.eni.ip = *network::ParseIpv4("192.168.1.5");
  md.key_pair = KeyPair{.name = "mykey", .public_key = std::string(kKey)};
  md.region_id = "tiangong-1";
  return md;
}

std::string Get(const InstanceMetadata& md, std::string_view path) {
  auto a = LookupMetadata(md, path);
  EXPECT_TRUE(a) << path;
  return a ? a->body : "";
}

// cloud-init's MetadataMaterializer (helpers/ec2.py): a listing's names
// ending in '/' are walked into, "<n>=<name>" is the leaf <n>/openssh-key
// stored as <name>; any fetch that fails fails the whole crawl.
nlohmann::json Crawl(const InstanceMetadata& md, const std::string& url) {
  nlohmann::json out = nlohmann::json::object();
  const std::string listing = Get(md, url);
  size_t at = 0;
  while (at <= listing.size()) {
    const size_t end = std::min(listing.find('\n', at), listing.size());
    const std::string name = listing.substr(at, end - at);
    at = end + 1;
    if (name.empty()) continue;
    if (name.ends_with('/')) {
      out[name.substr(0, name.size() - 1)] = Crawl(md, url + name);
    } else if (const size_t eq = name.find('='); eq != name.npos) {
      out[name.substr(eq + 1)] = Get(md, url + name.substr(0, eq) + "/openssh-key");
    } else {
      out[name] = Get(md, url + name);
    }
  }
  return out;
}

TEST(Metadata, WhatCloudInitsAliYunDatasourceCrawls) {
  const InstanceMetadata md = Sample();
  // It waits for the dated version's instance-id, then reads the rest there.
  EXPECT_EQ(Get(md, "/2016-01-01/meta-data/instance-id"), "i-a1");
  EXPECT_EQ(Get(md, "/2016-01-01/user-data"), "#cloud-config\nhostname: web-1\n");
  const nlohmann::json meta = Crawl(md, "/2016-01-01/meta-data/");
  EXPECT_EQ(meta["instance-id"], "i-a1");
  EXPECT_EQ(meta["hostname"], "web-1");
  EXPECT_EQ(meta["private-ipv4"], "192.168.1.5");
  EXPECT_EQ(meta["mac"], "02:00:00:00:00:0a");
  EXPECT_EQ(meta["region-id"], "tiangong-1");
  EXPECT_EQ(meta["zone-id"], "z1");
  EXPECT_EQ(meta["image-id"], "m-deb12");
  EXPECT_EQ(meta["serial-number"], "i-a1");
  EXPECT_EQ(meta["vpc-id"], "vpc-1");
  EXPECT_EQ(meta["vswitch-id"], "vsw-1");
  EXPECT_EQ(meta["instance"]["instance-type"], "ecs.t6-c1m1.large");
  EXPECT_EQ(meta["network"]["interfaces"]["macs"]["02:00:00:00:00:0a"]["network-interface-id"],
            "eni-a1");
  // What DataSourceAliYun.parse_public_keys takes: name -> the key line.
  EXPECT_EQ(meta["public-keys"], nlohmann::json({{"mykey", kKey}}));
  // `latest` is the same, with or without the directory's '/'.
  EXPECT_EQ(Crawl(md, "/latest/meta-data/"), meta);
  EXPECT_EQ(Get(md, "/latest/meta-data"), Get(md, "/2016-01-01/meta-data/"));
  EXPECT_EQ(Get(md, "/latest/meta-data/public-keys/0/"), "openssh-key");
  EXPECT_EQ(Get(md, "/"), "2016-01-01\nlatest");
  EXPECT_EQ(Get(md, "/latest/"), "dynamic/\nmeta-data/\nuser-data");
  auto doc = nlohmann::json::parse(Get(md, "/latest/dynamic/instance-identity/document"));
  EXPECT_EQ(doc["instance-id"], "i-a1");
  EXPECT_EQ(doc["region-id"], "tiangong-1");
  EXPECT_EQ(LookupMetadata(md, "/latest/user-data")->content_type, "application/octet-stream");
}

TEST(Metadata, UnknownPathsAndMissingDataAreNotFound) {
  InstanceMetadata md = Sample();
  for (std::string_view path :
       {"/latest/meta-data/nope", "/2009-04-04/meta-data/instance-id",
        "/latest/meta-data/instance-id/", "latest/meta-data/instance-id", "/latest//meta-data/",
        "/latest/meta-data/public-keys/1/openssh-key", ""})
    EXPECT_FALSE(LookupMetadata(md, path)) << path;
  // No user data, or a record's that does not decode: none served; no key
  // pair: no public-keys/ listed (every listed name must be there).
  md.instance.user_data = "";
  EXPECT_FALSE(LookupMetadata(md, "/latest/user-data"));
  md.instance.user_data = "not base64!";
  EXPECT_FALSE(LookupMetadata(md, "/latest/user-data"));
  EXPECT_EQ(Get(md, "/latest/"), "dynamic/\nmeta-data/");
  md.key_pair.reset();
  EXPECT_FALSE(LookupMetadata(md, "/latest/meta-data/public-keys/"));
  EXPECT_FALSE(Crawl(md, "/latest/meta-data/").contains("public-keys"));
  // No hostname: the instance id.
  md.instance.hostname = "";
  EXPECT_EQ(Get(md, "/latest/meta-data/hostname"), "i-a1");
}

// Two instances in two VPCs with the same address and MAC: each interface
// is answered with its own instance's data; one not in the snapshot, or
// gone from it, with nothing.
TEST(Metadata, EachInterfaceGetsItsOwnInstanceOnly) {
  MetadataResponder responder;
  InstanceMetadata a = Sample("i-a", "eni-a", "vpc-1"), b = Sample("i-b", "eni-b", "vpc-2");
  b.instance.user_data = EncodeBase64("b's secret");
  responder.Update({{"eni-a", a}, {"eni-b", b}});
  auto id_of = [&](std::string_view eni) {
    auto r = responder.Lookup(eni, "/latest/meta-data/instance-id");
    return r ? r->body : "(none)";
  };
  EXPECT_EQ(id_of("eni-a"), "i-a");
  EXPECT_EQ(id_of("eni-b"), "i-b");
  EXPECT_EQ(responder.Lookup("eni-b", "/latest/user-data")->body, "b's secret");
  EXPECT_EQ(responder.Lookup("eni-a", "/latest/meta-data/missing"), std::nullopt);
  EXPECT_EQ(id_of("eni-c"), "(none)");
  responder.Update({{"eni-b", b}});
  EXPECT_EQ(id_of("eni-a"), "(none)");
}

// From one read of the records: this host's instances, each under every
// interface it has, answering as its primary one.
TEST(Metadata, TheSnapshotOfAHostsInstancesFromTheRecords) {
  ComputeState compute;
  network::NetworkState network;
  InstanceMetadata a = Sample("i-a", "eni-a"), b = Sample("i-b", "eni-b"),
                   c = Sample("i-c", "eni-c");
  a.instance.host = c.instance.host = "h1";
  b.instance.host = "h2";
  a.instance.nics = {{"eni-a"}, {"eni-a2"}};
  a.instance.key_pair = "mykey";
  b.instance.nics = {{"eni-b"}};
  c.instance.nics = {{"eni-c"}};  // its interface's record is missing
  for (const auto* md : {&a, &b, &c}) compute.instances[md->instance.id].value = md->instance;
  compute.key_pairs["mykey"].value = *a.key_pair;
  network.interfaces["eni-a"].value = a.eni;
  network.interfaces["eni-b"].value = b.eni;
  auto snapshot = BuildMetadataSnapshot(compute, network, "h1", "tiangong-1");
  ASSERT_EQ(snapshot.size(), 2u);
  ASSERT_TRUE(snapshot.count("eni-a") && snapshot.count("eni-a2"));
  EXPECT_EQ(snapshot["eni-a2"].instance.id, "i-a");
  EXPECT_EQ(snapshot["eni-a2"].eni.id, "eni-a");
  EXPECT_EQ(snapshot["eni-a"].region_id, "tiangong-1");
  ASSERT_TRUE(snapshot["eni-a"].key_pair);
  EXPECT_EQ(snapshot["eni-a"].key_pair->public_key, kKey);
  compute.key_pairs.clear();  // a key pair deleted: served without keys
  EXPECT_FALSE(BuildMetadataSnapshot(compute, network, "h1", "tiangong-1")["eni-a"].key_pair);
}

// Through the vSwitch's responder: port A's guest claiming B's address
// (same VPC) is not answered at all; as itself it is.
TEST(Metadata, ASpoofedSourceGetsNothing) {
  MetadataResponder responder;
  InstanceMetadata a = Sample("i-a", "eni-a"), b = Sample("i-b", "eni-b");
  b.eni.ip = *network::ParseIpv4("192.168.1.6");
  b.eni.mac = *network::ParseMac("02:00:00:00:00:0b");
  responder.Update({{"eni-a", a}, {"eni-b", b}});
  network::MetadataTcp tcp(responder);
  const network::MetadataPort port_a{.eni_id = "eni-a",
                                     .mac = a.eni.mac,
                                     .ip = a.eni.ip,
                                     .gateway_mac = network::MacFromNumber(99)};
  auto syn_from = [&](network::Mac mac, network::Ipv4 ip) {
    return network::MakeTcpFrame({.dst = port_a.gateway_mac,
                                  .src = mac,
                                  .src_ip = ip,
                                  .dst_ip = network::kMetadataIp,
                                  .src_port = 40000,
                                  .dst_port = 80,
                                  .seq = 1,
                                  .flags = network::kTcpSyn,
                                  .window = 65535});
  };
  EXPECT_TRUE(tcp.FromPort(port_a, syn_from(a.eni.mac, b.eni.ip), {}).empty());
  EXPECT_TRUE(tcp.FromPort(port_a, syn_from(b.eni.mac, b.eni.ip), {}).empty());
  EXPECT_EQ(tcp.connections("eni-a"), 0u);
  EXPECT_EQ(tcp.FromPort(port_a, syn_from(a.eni.mac, a.eni.ip), {}).size(), 1u);
}

}  // namespace
}  // namespace tg::compute
