// The VPC records in a real etcd: what the store refuses (overlaps,
// orphans, reserved or taken addresses) and that concurrent callers never
// get the same address.
#include "network/controller/vpc_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "network/model/ids.h"
#include "store_fixture.h"

namespace tg::network {
namespace {

using testing::RunTask;

using VpcStoreTest = VpcStoreFixture;

TEST_F(VpcStoreTest, ParentsChildrenAndOverlapsAreChecked) {
  RunTask(io_, [&]() -> Task<void> {
    auto a = co_await store_->CreateVpc("a", *ParseCidr("192.168.0.0/16"));
    auto b = co_await store_->CreateVpc("b", *ParseCidr("192.168.0.0/16"));  // same CIDR: fine
    CO_ASSERT_OK(a.status());
    CO_ASSERT_OK(b.status());
    EXPECT_NE(a->vni, b->vni);
    EXPECT_FALSE((co_await store_->CreateVpc("c", *ParseCidr("10.0.0.0/30"))).ok());
    auto s1 = co_await store_->CreateVSwitch(a->id, *ParseCidr("192.168.1.0/24"), "z1");
    CO_ASSERT_OK(s1.status());
    EXPECT_EQ((co_await store_->CreateVSwitch(a->id, *ParseCidr("192.168.1.128/25"), "z1"))
                  .status()
                  .code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((co_await store_->CreateVSwitch("vpc-404", *ParseCidr("192.168.2.0/24"), "z1"))
                  .status()
                  .code(),
              ErrorCode::kNotFound);
    // The other VPC may use the same block: VPCs are isolated.
    CO_ASSERT_OK(
        (co_await store_->CreateVSwitch(b->id, *ParseCidr("192.168.1.0/24"), "z1")).status());
    auto sg = co_await store_->CreateSecurityGroup(a->id, "web");
    CO_ASSERT_OK(sg.status());
    SecurityGroupRule ssh{.direction = Direction::kIngress,
                          .protocol = Protocol::kTcp,
                          .ports = *ParsePortRange("22/22", Protocol::kTcp),
                          .cidr = *ParseCidr("0.0.0.0/0"),
                          .priority = 1};
    CO_ASSERT_OK(co_await store_->AddRule(sg->id, ssh));
    CO_ASSERT_OK(co_await store_->AddRule(sg->id, ssh));  // once only
    ssh.priority = 0;
    EXPECT_FALSE((co_await store_->AddRule(sg->id, ssh)).ok());
    // (No braced temporaries inside co_await: GCC 12 miscompiles them.)
    const std::vector<std::string> groups(1, sg->id), none;
    auto eni = co_await store_->CreateInterface(s1->id, std::nullopt, groups, "h1");
    CO_ASSERT_OK(eni.status());
    EXPECT_EQ(eni->ip.ToString(), "192.168.1.1");
    EXPECT_EQ((co_await store_->CreateInterface(s1->id, *ParseIpv4("192.168.1.1"), none, "h1"))
                  .status()
                  .code(),
              ErrorCode::kAlreadyExists);
    EXPECT_FALSE((co_await store_->CreateInterface(s1->id, *ParseIpv4("192.168.1.253"), none, "h1"))
                     .ok());  // the gateway
    // Children keep their parents.
    EXPECT_EQ((co_await store_->DeleteVSwitch(s1->id)).code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->DeleteSecurityGroup(sg->id)).code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->DeleteVpc(a->id)).code(), ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await store_->DeleteInterface(eni->id));
    CO_ASSERT_OK(co_await store_->DeleteVSwitch(s1->id));
    CO_ASSERT_OK(co_await store_->DeleteSecurityGroup(sg->id));
    CO_ASSERT_OK(co_await store_->DeleteVpc(a->id));
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(st->vpcs.size(), 1u);
    EXPECT_TRUE(st->interfaces.empty());
    EXPECT_TRUE(st->used_addresses[s1->id].empty());  // the address is free again
  }());
}

TEST_F(VpcStoreTest, ConcurrentInterfacesNeverShareAnAddress) {
  RunTask(io_, [&]() -> Task<void> {
    auto vpc = co_await store_->CreateVpc("a", *ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    // A /28: 16 addresses, 12 usable.
    auto vsw = co_await store_->CreateVSwitch(vpc->id, *ParseCidr("10.0.1.0/28"), "z1");
    CO_ASSERT_OK(vsw.status());
    std::vector<Result<NetworkInterface>> results(16, Status(ErrorCode::kInternal, "not run"));
    Executor ex = co_await asio::this_coro::executor;
    TaskGroup group(ex);
    for (auto& r : results) {
      group.Spawn("create",
                  [](VpcStore& s, std::string id, Result<NetworkInterface>& out) -> Task<void> {
                    const std::vector<std::string> none;
                    out = co_await s.CreateInterface(id, std::nullopt, none, "h1");
                  }(*store_, vsw->id, r));
    }
    co_await group.Join();
    std::set<Ipv4> addresses;
    int exhausted = 0;
    for (const auto& r : results) {
      if (r.ok()) {
        EXPECT_TRUE(vsw->Usable(r->ip)) << r->ip.ToString();
        EXPECT_TRUE(addresses.insert(r->ip).second) << "duplicate " << r->ip.ToString();
      } else {
        EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status();
        ++exhausted;
      }
    }
    EXPECT_EQ(addresses.size(), 12u);
    EXPECT_EQ(exhausted, 4);
  }());
}

// Gateways: public addresses unique and inside the pool, placement on a
// gateway node, and the order of association (an EIP before its SNAT
// entry; nothing deleted while something still uses it).
TEST_F(VpcStoreTest, GatewaysKeepPublicAddressesUniqueAndTheirUsersConsistent) {
  RunTask(io_, [&]() -> Task<void> {
    auto vpc = co_await store_->CreateVpc("a", *ParseCidr("192.168.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    auto vsw = co_await store_->CreateVSwitch(vpc->id, *ParseCidr("192.168.1.0/24"), "z1");
    CO_ASSERT_OK(vsw.status());
    const std::vector<std::string> none;
    const PublicPool router_outside{*ParseCidr("203.0.113.0/29"), *ParseIpv4("198.51.100.1")};
    const PublicPool pool{*ParseCidr("203.0.113.0/29"), *ParseIpv4("203.0.113.1")};
    const PublicPool smaller{*ParseCidr("203.0.113.0/30"), *ParseIpv4("203.0.113.1")};
    auto eni = co_await store_->CreateInterface(vsw->id, std::nullopt, none, "h1");
    CO_ASSERT_OK(eni.status());
    EXPECT_EQ((co_await store_->CreateEip(std::nullopt, "gw1")).status().code(),
              ErrorCode::kFailedPrecondition)
        << "no pool yet";
    EXPECT_EQ((co_await store_->CreateNatGateway(vpc->id)).status().code(),
              ErrorCode::kFailedPrecondition)
        << "no gateway node is up";
    CO_ASSERT_OK((co_await client_->Put(std::string(kGatewayHostsPrefix) + "gw1", "up0")).status());
    EXPECT_FALSE((co_await store_->SetPublicPool(router_outside)).ok())
        << "the router outside the pool";
    CO_ASSERT_OK(co_await store_->SetPublicPool(pool));
    // .0, .7 and the router .1 are reserved: .2 to .6 are handed out.
    std::set<Ipv4> seen;
    std::vector<Eip> eips;
    for (int i = 0; i < 4; ++i) {
      auto e = co_await store_->CreateEip(std::nullopt);
      CO_ASSERT_OK(e.status());
      EXPECT_EQ(e->host, "gw1") << "the only gateway node";
      EXPECT_TRUE(seen.insert(e->address).second);
      eips.push_back(*e);
    }
    EXPECT_EQ(eips[0].address.ToString(), "203.0.113.2");
    EXPECT_EQ((co_await store_->CreateEip(*ParseIpv4("203.0.113.1"))).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((co_await store_->CreateEip(eips[0].address)).status().code(),
              ErrorCode::kAlreadyExists);
    auto vpn = co_await store_->CreateVpnGateway(vpc->id, *ParseIpv4("198.51.100.2"));
    CO_ASSERT_OK(vpn.status());
    EXPECT_EQ(vpn->address.ToString(), "203.0.113.6");
    EXPECT_EQ((co_await store_->CreateEip(std::nullopt)).status().code(),
              ErrorCode::kResourceExhausted);
    EXPECT_EQ((co_await store_->SetPublicPool(smaller)).code(), ErrorCode::kFailedPrecondition)
        << "addresses in use would fall outside";

    // An interface's EIP: one per interface; the interface stays while it has it.
    CO_ASSERT_OK(co_await store_->AssociateEip(eips[0].id, eni->id));
    EXPECT_EQ((co_await store_->AssociateEip(eips[1].id, eni->id)).code(),
              ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->DeleteInterface(eni->id)).code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->DeleteEip(eips[0].id)).code(), ErrorCode::kFailedPrecondition);

    // SNAT: through an EIP of the NAT gateway, for sources in the VPC.
    auto nat = co_await store_->CreateNatGateway(vpc->id);
    CO_ASSERT_OK(nat.status());
    const SnatEntry subnet{*ParseCidr("192.168.1.0/24"), eips[1].id};
    const SnatEntry outside{*ParseCidr("10.0.0.0/24"), eips[1].id};
    const RouteEntry default_route{*ParseCidr("0.0.0.0/0"), nat->id};
    const RouteEntry inside_vswitch{*ParseCidr("192.168.1.0/25"), nat->id};
    EXPECT_EQ((co_await store_->AddSnatEntry(nat->id, subnet)).code(),
              ErrorCode::kFailedPrecondition)
        << "the EIP is not the NAT gateway's";
    CO_ASSERT_OK(co_await store_->AssociateEip(eips[1].id, nat->id));
    EXPECT_EQ((co_await store_->AddSnatEntry(nat->id, outside)).code(), ErrorCode::kInvalidArgument)
        << "outside the VPC";
    CO_ASSERT_OK(co_await store_->AddSnatEntry(nat->id, subnet));
    CO_ASSERT_OK(co_await store_->AddRoute(vpc->id, default_route));
    EXPECT_EQ((co_await store_->AddRoute(vpc->id, inside_vswitch)).code(),
              ErrorCode::kInvalidArgument)
        << "inside a vSwitch: the system's route";
    EXPECT_EQ((co_await store_->DissociateEip(eips[1].id)).code(), ErrorCode::kFailedPrecondition)
        << "an SNAT entry uses it";
    EXPECT_EQ((co_await store_->DeleteNatGateway(nat->id)).code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->DeleteVpc(vpc->id)).code(), ErrorCode::kFailedPrecondition);

    // Taken down in order, everything goes and the addresses are free again.
    CO_ASSERT_OK(co_await store_->RemoveRoute(vpc->id, *ParseCidr("0.0.0.0/0")));
    CO_ASSERT_OK(co_await store_->RemoveSnatEntry(nat->id, *ParseCidr("192.168.1.0/24")));
    CO_ASSERT_OK(co_await store_->DissociateEip(eips[1].id));
    CO_ASSERT_OK(co_await store_->DeleteNatGateway(nat->id));
    CO_ASSERT_OK(co_await store_->DeleteVpnGateway(vpn->id));
    CO_ASSERT_OK(co_await store_->DeleteEip(eips[1].id));
    auto again = co_await store_->CreateEip(std::nullopt);
    CO_ASSERT_OK(again.status());
    EXPECT_EQ(again->address, eips[1].address);
  }());
}

// New ids are Alibaba's shape, drawn at random and taken only if free (no
// counter key); a VPC's VNI and an interface's MAC are each a key of their
// own. Records numbered by the former counter keep working.
TEST_F(VpcStoreTest, IdsAreRandomInAlibabasShapeAndNumberedRecordsKeepWorking) {
  RunTask(io_, [&]() -> Task<void> {
    auto shaped = [](const std::string& id, std::string_view prefix) {
      if (!id.starts_with(std::string(prefix) + "-") ||
          id.size() != prefix.size() + 1 + kIdSuffixLength)
        return false;
      return std::all_of(id.begin() + static_cast<long>(prefix.size()) + 1, id.end(),
                         [](char c) { return std::islower(c) || std::isdigit(c); });
    };
    auto a = co_await store_->CreateVpc("a", *ParseCidr("10.0.0.0/16"));
    auto b = co_await store_->CreateVpc("b", *ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(a.status());
    CO_ASSERT_OK(b.status());
    EXPECT_TRUE(shaped(a->id, "vpc")) << a->id;
    EXPECT_NE(a->id, b->id);
    EXPECT_GE(a->vni, kFirstRandomVni);
    EXPECT_LE(a->vni, kMaxVni);
    auto vni_key = co_await client_->Get(VniKey(a->vni));
    CO_ASSERT_TRUE(vni_key.ok() && vni_key->kvs.size() == 1u);
    EXPECT_EQ(vni_key->kvs[0].value, a->id);
    auto vsw = co_await store_->CreateVSwitch(a->id, *ParseCidr("10.0.1.0/24"), "z1");
    auto sg = co_await store_->CreateSecurityGroup(a->id, "web");
    CO_ASSERT_OK(vsw.status());
    CO_ASSERT_OK(sg.status());
    EXPECT_TRUE(shaped(vsw->id, "vsw")) << vsw->id;
    EXPECT_TRUE(shaped(sg->id, "sg")) << sg->id;
    const std::vector<std::string> groups(1, sg->id);
    auto eni = co_await store_->CreateInterface(vsw->id, std::nullopt, groups, "h1");
    CO_ASSERT_OK(eni.status());
    EXPECT_TRUE(shaped(eni->id, "eni")) << eni->id;
    EXPECT_NE(eni->mac.bytes[1], 0) << "the counter's MACs all had 0 there";
    auto mac_key = co_await client_->Get(MacKey(eni->mac));
    CO_ASSERT_TRUE(mac_key.ok() && mac_key->kvs.size() == 1u);
    EXPECT_EQ(mac_key->kvs[0].value, eni->id);
    EXPECT_LE(TapName(eni->id).size(), 15u);
    auto counter = co_await client_->Get(std::string(kNextIdKey));
    CO_ASSERT_OK(counter.status());
    EXPECT_TRUE(counter->kvs.empty()) << "a create took the counter";
    CO_ASSERT_OK(co_await store_->DeleteInterface(eni->id));
    mac_key = co_await client_->Get(MacKey(eni->mac));
    CO_ASSERT_TRUE(mac_key.ok() && mac_key->kvs.empty());

    // A VPC as the counter made it (format 1 without the field): its
    // children are made and removed as before.
    const std::string numbered = R"({"id":"vpc-7","name":"old","cidr":"172.16.0.0/16",)"
                                 R"("vni":1007,"description":"","routes":[]})";
    CO_ASSERT_OK((co_await client_->Put(VpcKey("vpc-7"), numbered)).status());
    auto old_vsw = co_await store_->CreateVSwitch("vpc-7", *ParseCidr("172.16.1.0/24"), "z1");
    CO_ASSERT_OK(old_vsw.status());
    const std::vector<std::string> none;
    auto old_eni = co_await store_->CreateInterface(old_vsw->id, std::nullopt, none, "h1");
    CO_ASSERT_OK(old_eni.status());
    EXPECT_EQ((co_await store_->DeleteVSwitch(old_vsw->id)).code(), ErrorCode::kFailedPrecondition)
        << "found its interface by its address key";
    CO_ASSERT_OK(co_await store_->DeleteInterface(old_eni->id));
    CO_ASSERT_OK(co_await store_->DeleteVSwitch(old_vsw->id));
    CO_ASSERT_OK(co_await store_->DeleteVpc("vpc-7"));
  }());
}

// A store with a fence that does not hold (a controller that no longer
// leads) writes nothing: Cancelled, and the records are as they were.
TEST_F(VpcStoreTest, AFencedStoreWritesNothingOnceItsFenceFails) {
  RunTask(io_, [&]() -> Task<void> {
    auto vpc = co_await store_->CreateVpc("a", *ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    const etcd::Compare gone = etcd::Compare::CreateRevision(
        "/tiangong/election/test/no-such-candidate", etcd::Compare::Op::kEqual, 5);
    VpcStore fenced(*client_, gone);
    auto before = co_await store_->Read();
    CO_ASSERT_OK(before.status());
    EXPECT_EQ((co_await fenced.CreateVpc("b", *ParseCidr("10.1.0.0/16"))).status().code(),
              ErrorCode::kCancelled);
    EXPECT_EQ(
        (co_await fenced.CreateVSwitch(vpc->id, *ParseCidr("10.0.1.0/24"), "z1")).status().code(),
        ErrorCode::kCancelled);
    EXPECT_EQ((co_await fenced.DeleteVpc(vpc->id)).code(), ErrorCode::kCancelled);
    auto after = co_await store_->Read();
    CO_ASSERT_OK(after.status());
    EXPECT_EQ(after->revision, before->revision) << "a fenced write landed";
  }());
}

TEST_F(VpcStoreTest, AnInterfaceIsBoundToAHostAndUnbound) {
  RunTask(io_, [&]() -> Task<void> {
    auto vpc = co_await store_->CreateVpc("a", *ParseCidr("10.0.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    auto vsw = co_await store_->CreateVSwitch(vpc->id, *ParseCidr("10.0.1.0/24"), "z1");
    CO_ASSERT_OK(vsw.status());
    const std::vector<std::string> none;
    auto eni = co_await store_->CreateInterface(vsw->id, std::nullopt, none, "", "i-1", true,
                                                std::string(kPortVhostUser), 1);
    CO_ASSERT_OK(eni.status());
    const auto host_of = [&](const NetworkState& st) {
      return st.interfaces.at(eni->id).value.host;
    };
    CO_ASSERT_OK(co_await store_->BindInterface(eni->id, "node-a"));
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(host_of(*st), "node-a");
    // Only the host changes: the address, MAC and port stay.
    EXPECT_EQ(st->interfaces.at(eni->id).value.ip, eni->ip);
    EXPECT_EQ(st->interfaces.at(eni->id).value.port, kPortVhostUser);
    // A host that no longer holds it cannot unbind it.
    EXPECT_EQ((co_await store_->UnbindInterface(eni->id, "node-b")).code(),
              ErrorCode::kFailedPrecondition);
    st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(host_of(*st), "node-a");
    CO_ASSERT_OK(co_await store_->UnbindInterface(eni->id, "node-a"));
    st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(host_of(*st), "");
    CO_ASSERT_OK(co_await store_->BindInterface(eni->id, ""));
    st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(host_of(*st), "");
    EXPECT_EQ((co_await store_->BindInterface("eni-404", "node-a")).code(), ErrorCode::kNotFound);
    // Fenced like every write of the store.
    const etcd::Compare gone = etcd::Compare::CreateRevision(
        "/tiangong/election/test/no-such-candidate", etcd::Compare::Op::kEqual, 5);
    VpcStore fenced(*client_, gone);
    EXPECT_EQ((co_await fenced.BindInterface(eni->id, "node-b")).code(), ErrorCode::kCancelled);
    st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    EXPECT_EQ(host_of(*st), "");
  }());
}

}  // namespace
}  // namespace tg::network
