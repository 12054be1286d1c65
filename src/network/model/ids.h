// Names the controller gives new records, drawn at random so that no
// counter key serializes every create in the cloud: an id in Alibaba's
// shape ("vpc-" and 20 lowercase letters and digits), a VNI and a MAC.
// Uniqueness is the store's: each is created only if its key is missing.
//
// Records made before (ids "vpc-<n>", VNIs 1000 + n, MACs 02:00:... from
// one counter) keep their names; new VNIs and MACs come from ranges the
// counter never reached, so the two kinds cannot meet.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "network/model/address.h"

namespace tg::network {

inline constexpr std::string_view kVpcIdPrefix = "vpc";
inline constexpr std::string_view kVSwitchIdPrefix = "vsw";
inline constexpr std::string_view kSecurityGroupIdPrefix = "sg";
inline constexpr std::string_view kInterfaceIdPrefix = "eni";
inline constexpr std::string_view kEipIdPrefix = "eip";
inline constexpr std::string_view kNatGatewayIdPrefix = "ngw";
inline constexpr std::string_view kVpnGatewayIdPrefix = "vpn";
inline constexpr std::string_view kForwardEntryIdPrefix = "fwd";  // a NAT gateway's DNAT entry

inline constexpr size_t kIdSuffixLength = 20;
// New VNIs: the upper half of the 24-bit space.
inline constexpr uint32_t kFirstRandomVni = 1u << 23;

// "<prefix>-" and kIdSuffixLength random lowercase letters and digits.
std::string NewId(std::string_view prefix);
// A VNI in [kFirstRandomVni, 2^24).
uint32_t NewVni();
// A locally administered unicast MAC whose second byte is never 0 (the
// counter's MACs all had 0 there).
Mac NewMac();

}  // namespace tg::network
