// The VPC records in a real etcd: what the store refuses (overlaps,
// orphans, reserved or taken addresses) and that concurrent callers never
// get the same address.
#include "network/controller/vpc_store.h"

#include <gtest/gtest.h>

#include <set>

#include "support/etcd_cluster.h"
#include "support/test_util.h"

namespace tg::network {
namespace {

using testing::RunTask;

class VpcStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::EtcdCluster>(io_, 1);
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
  asio::io_context io_;
  std::unique_ptr<testing::EtcdCluster> cluster_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<VpcStore> store_;
};

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

}  // namespace
}  // namespace tg::network
