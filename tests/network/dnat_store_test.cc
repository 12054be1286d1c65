// DNAT entries in a real etcd: what the store refuses (an EIP not the NAT
// gateway's, an address outside the VPC, a port forwarded twice) and what
// an entry keeps from being taken down (its EIP, its NAT gateway).
#include <gtest/gtest.h>

#include "network/controller/vpc_store.h"
#include "store_fixture.h"

namespace tg::network {
namespace {

using testing::RunTask;

using DnatStoreTest = VpcStoreFixture;

TEST_F(DnatStoreTest, ForwardEntriesAreCheckedAndHoldTheirEipAndGateway) {
  RunTask(io_, [&]() -> Task<void> {
    auto vpc = co_await store_->CreateVpc("a", *ParseCidr("192.168.0.0/16"));
    CO_ASSERT_OK(vpc.status());
    CO_ASSERT_OK((co_await client_->Put(std::string(kGatewayHostsPrefix) + "gw1", "up0")).status());
    const PublicPool pool{*ParseCidr("203.0.113.0/24"), *ParseIpv4("203.0.113.1")};
    CO_ASSERT_OK(co_await store_->SetPublicPool(pool));
    auto nat = co_await store_->CreateNatGateway(vpc->id);
    CO_ASSERT_OK(nat.status());
    auto eip = co_await store_->CreateEip(std::nullopt);
    CO_ASSERT_OK(eip.status());
    auto spare = co_await store_->CreateEip(std::nullopt);  // not the NAT gateway's
    CO_ASSERT_OK(spare.status());

    const ForwardEntry web{.external_ip = eip->address,
                           .external_port = 8080,
                           .internal_ip = *ParseIpv4("192.168.1.10"),
                           .internal_port = 80,
                           .protocol = ForwardProtocol::kTcp};
    EXPECT_EQ((co_await store_->AddForwardEntry(nat->id, web)).status().code(),
              ErrorCode::kFailedPrecondition)
        << "the EIP is not associated with the NAT gateway yet";
    CO_ASSERT_OK(co_await store_->AssociateEip(eip->id, nat->id));

    auto added = co_await store_->AddForwardEntry(nat->id, web);
    CO_ASSERT_OK(added.status());
    EXPECT_TRUE(added->id.starts_with("fwd-")) << added->id;
    EXPECT_EQ(added->eip_id, eip->id) << "found by its address";
    auto st = co_await store_->Read();
    CO_ASSERT_OK(st.status());
    const auto& stored = st->nat_gateways.at(nat->id).value.forward;
    CO_ASSERT_TRUE(stored.size() == 1u);
    EXPECT_EQ(stored[0], *added);

    // Refused: the same port again (any protocol covers TCP), an address
    // outside the VPC, an EIP of no NAT gateway, a port 0, an address that
    // is not the named EIP's, an unknown NAT gateway.
    ForwardEntry again = web;
    again.protocol = ForwardProtocol::kAny;
    again.internal_port = 81;
    EXPECT_EQ((co_await store_->AddForwardEntry(nat->id, again)).status().code(),
              ErrorCode::kAlreadyExists);
    ForwardEntry outside = web;
    outside.external_port = 8081;
    outside.internal_ip = *ParseIpv4("10.0.0.5");
    EXPECT_EQ((co_await store_->AddForwardEntry(nat->id, outside)).status().code(),
              ErrorCode::kInvalidArgument);
    ForwardEntry other_eip = web;
    other_eip.external_ip = spare->address;
    EXPECT_EQ((co_await store_->AddForwardEntry(nat->id, other_eip)).status().code(),
              ErrorCode::kFailedPrecondition);
    ForwardEntry no_port = web;
    no_port.external_port = 0;
    EXPECT_EQ((co_await store_->AddForwardEntry(nat->id, no_port)).status().code(),
              ErrorCode::kInvalidArgument);
    ForwardEntry mismatch = web;
    mismatch.external_port = 8082;
    mismatch.eip_id = eip->id;
    mismatch.external_ip = spare->address;
    EXPECT_EQ((co_await store_->AddForwardEntry(nat->id, mismatch)).status().code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ((co_await store_->AddForwardEntry("ngw-404", web)).status().code(),
              ErrorCode::kNotFound);
    // UDP on the same port is another entry; by EIP id alone works too.
    ForwardEntry udp = web;
    udp.protocol = ForwardProtocol::kUdp;
    udp.external_ip = Ipv4{};
    udp.eip_id = eip->id;
    auto second = co_await store_->AddForwardEntry(nat->id, udp);
    CO_ASSERT_OK(second.status());
    EXPECT_EQ(second->external_ip, eip->address);
    EXPECT_NE(second->id, added->id);

    // While entries use them, the EIP stays associated and the NAT gateway stays.
    EXPECT_EQ((co_await store_->DissociateEip(eip->id)).code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ((co_await store_->DeleteNatGateway(nat->id)).code(), ErrorCode::kFailedPrecondition);
    CO_ASSERT_OK(co_await store_->RemoveForwardEntry(nat->id, added->id));
    EXPECT_EQ((co_await store_->RemoveForwardEntry(nat->id, added->id)).code(),
              ErrorCode::kNotFound);
    EXPECT_EQ((co_await store_->DissociateEip(eip->id)).code(), ErrorCode::kFailedPrecondition)
        << "the UDP entry still uses it";
    CO_ASSERT_OK(co_await store_->RemoveForwardEntry(nat->id, second->id));
    CO_ASSERT_OK(co_await store_->DissociateEip(eip->id));
    CO_ASSERT_OK(co_await store_->DeleteNatGateway(nat->id));
  }());
}

}  // namespace
}  // namespace tg::network
