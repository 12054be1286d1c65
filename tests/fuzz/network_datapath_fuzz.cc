// The VPC datapath's decisions on untrusted frames: from a guest's port,
// from the tunnel, from a gateway's uplink and from a VPC into a gateway;
// GRE, joining and cutting TCP segments, finishing checksums. Nothing may
// read or write out of bounds or crash, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../network/gateway_records.h"
#include "network/gateway/gre.h"
#include "network/gateway/translate.h"
#include "network/vswitch/coalesce.h"
#include "network/vswitch/forwarding.h"

namespace tg::network {
namespace {

Ipv4 Ip(const char* s) {
  return *ParseIpv4(s);
}

// The gateway tests' records, with a security group on eni-1 and a router
// instance (eni-3, source check off) for 10.60.0.0/16.
NetworkState Records() {
  NetworkState st = GatewayRecords();
  st.vpcs["vpc-1"].value.routes.push_back({*ParseCidr("10.60.0.0/16"), "eni-3"});
  st.vswitches["vsw-b"] = {{.id = "vsw-b", .vpc_id = "vpc-1", .cidr = *ParseCidr("10.0.2.0/24")}};
  SecurityGroup sg{.id = "sg-1", .vpc_id = "vpc-1"};
  sg.rules.push_back({.direction = Direction::kIngress,
                      .protocol = Protocol::kTcp,
                      .ports = {80, 80},
                      .cidr = *ParseCidr("0.0.0.0/0"),
                      .priority = 1});
  st.security_groups["sg-1"] = {sg};
  st.interfaces["eni-1"].value.security_groups = {"sg-1"};
  NetworkInterface router{.id = "eni-3",
                          .vswitch_id = "vsw-b",
                          .vpc_id = "vpc-1",
                          .mac = MacFromNumber(3),
                          .ip = Ip("10.0.2.1"),
                          .host = "gw",
                          .source_check = false};
  st.interfaces["eni-3"] = {router};
  return st;
}

struct World {
  std::map<std::string, Ipv4> tunnels{{"h1", Ip("192.0.2.1")}, {"gw", Ip("192.0.2.9")}};
  NetworkState st = Records();
  HostView h1 = BuildHostView(st, tunnels, "h1");
  HostView gw = BuildHostView(st, tunnels, "gw");
  GatewayView gv = BuildGatewayView(st, gw);
  ConnTrack flows;
  NatTable nat;
};

}  // namespace
}  // namespace tg::network

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::network;
  static World w;
  if (size < 1) return 0;
  const uint8_t which = data[0];
  std::vector<uint8_t> frame(data + 1, data + size);
  const auto now = tg::Clock::now();
  switch (which % 8) {
    case 0:
      (void)FromPort(w.h1, w.flows, now, "eni-1", frame);
      break;
    case 1:
      (void)FromPort(w.h1, w.flows, now, "eni-1", frame, static_cast<uint16_t>(which * 7));
      break;
    case 2:
      (void)FromTunnel(w.gw, w.flows, now, 1001, frame);
      // The same bytes as a buffer the kernel joined (UDP GRO).
      ForEachDatagram(frame, which * 5u % 300, [&](std::span<const uint8_t> datagram) {
        if (ReadVxlanHeader(datagram))
          (void)FromTunnel(w.gw, w.flows, now, 1001, datagram.subspan(kVxlanHeader));
      });
      break;
    case 3:
      (void)FromUplink(w.gw, w.gv, w.nat, now, frame, MacFromNumber(9));
      break;
    case 4:
      (void)FromVpc(w.gw, w.gv, w.nat, now, 1001, frame);
      break;
    case 5: {
      FrameView v;
      if (ParseFrame(frame, v) == ParseError::kNone && v.ip)
        (void)GreDecapsulate(std::span<const uint8_t>(frame).subspan(v.l3_offset), *v.ip);
      Offload o{.needs_checksum = true,
                .checksum_start = static_cast<uint16_t>(which * 3),
                .checksum_offset = static_cast<uint16_t>(which)};
      (void)FinishChecksum(frame, o);
      // A guest's offload header before its frame (TAP or vhost-user-net).
      if (frame.size() >= kVnetHeader) {
        Offload parsed;
        if (ParseVnetHeader(std::span<const uint8_t, kVnetHeader>(frame.data(), kVnetHeader),
                            frame.size() - kVnetHeader, &parsed)) {
          std::span<uint8_t> rest(frame.data() + kVnetHeader, frame.size() - kVnetHeader);
          if (parsed.tcp4_segments)
            (void)SegmentTcp4(rest, parsed.gso_size, [](std::span<const uint8_t>) {});
          else
            (void)FinishChecksum(rest, parsed);
        }
      }
      break;
    }
    case 6: {
      TcpCoalescer c;
      // The same bytes three times, and a shifted copy: joined or refused.
      (void)c.Append(frame);
      (void)c.Append(frame);
      if (frame.size() > 1) (void)c.Append(std::span<const uint8_t>(frame).subspan(1));
      Offload o;
      (void)c.Take(&o);
      break;
    }
    case 7:
      (void)SegmentTcp4(frame, static_cast<uint16_t>(which + 1), [](std::span<const uint8_t>) {});
      break;
  }
  return 0;
}
