// Frames as the vSwitch sees them: parsing that checks every length and
// field before use (frames come from guests and from the underlay, both
// untrusted), and the few frames the vSwitch writes itself (ARP replies,
// ICMP errors, the VXLAN header of RFC 7348).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "network/model/address.h"

namespace tg::network {

inline constexpr size_t kEthernetHeader = 14;
inline constexpr size_t kVxlanHeader = 8;
inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoGre = 47;

enum class ParseError {
  kNone,
  kTooShort,     // shorter than its headers say
  kBadHeader,    // a field out of range (version, header length, ...)
  kBadChecksum,  // IPv4 header checksum
  kUnsupported,  // an EtherType or ARP form the vSwitch does not handle
};

struct ArpView {
  uint16_t op = 0;  // 1 request, 2 reply
  Mac sender_mac;
  Ipv4 sender_ip;
  Mac target_mac;
  Ipv4 target_ip;
};

// What an ICMP error (destination unreachable, time exceeded, parameter
// problem) quotes: the start of the packet it is about, that packet's IPv4
// header and at least 8 bytes after it, enough for the ports (RFC 792).
struct QuotedPacket {
  uint8_t protocol = 0;
  Ipv4 src, dst;
  uint16_t src_port = 0, dst_port = 0;  // TCP, UDP; an echo's identifier as both
  bool has_ports = false;
  // Where the quoted header is, from the start of the outer IPv4 header,
  // and how many bytes of its transport header the quote holds (>= 8).
  size_t offset = 0, header_length = 0, transport_length = 0;
};

struct Ipv4View {
  Ipv4 src, dst;
  uint8_t protocol = 0;
  uint8_t ttl = 0;
  uint16_t total_length = 0;
  size_t header_length = 0;  // bytes
  bool dont_fragment = false;
  bool fragment = false;  // not the first, or more to come
  // Transport fields (from the first fragment only).
  uint16_t src_port = 0, dst_port = 0;  // TCP, UDP
  uint8_t tcp_flags = 0;
  uint8_t tcp_header_length = 0;  // bytes
  uint8_t icmp_type = 0, icmp_code = 0;
  uint16_t icmp_id = 0;                // echo request/reply
  std::optional<QuotedPacket> quoted;  // an ICMP error's, when usable
};

struct FrameView {
  Mac dst, src;
  uint16_t ether_type = 0;
  std::optional<ArpView> arp;
  std::optional<Ipv4View> ip;
  size_t l3_offset = kEthernetHeader;
};

// Parses an Ethernet frame (no VLAN tags): ARP for IPv4 over Ethernet, or
// IPv4 with its transport ports.
ParseError ParseFrame(std::span<const uint8_t> frame, FrameView& out);

// RFC 1071: the complement of the ones'-complement sum of `bytes` (16-bit
// words in network order) and `initial`.
uint16_t InternetChecksum(std::span<const uint8_t> bytes, uint32_t initial = 0);
// The same, while copying `bytes` to `to` (one pass over the data). A
// checksum over two spans: the second's `initial` is ~(the first's), if the
// first is of even length.
uint16_t CopyWithChecksum(std::span<const uint8_t> bytes, uint8_t* to, uint32_t initial = 0);

// An ARP reply from `mac`/`ip` to the requester of `request`.
std::vector<uint8_t> MakeArpReply(const ArpView& request, Mac mac);

// ICMP "destination unreachable, fragmentation needed" (type 3, code 4) for
// an IPv4 frame too big for `mtu`, from `router_mac`/`router_ip`, quoting the
// original header and 8 bytes as RFC 792 asks.
std::vector<uint8_t> MakeFragmentationNeeded(std::span<const uint8_t> frame, const FrameView& view,
                                             Mac router_mac, Ipv4 router_ip, uint16_t mtu);

// RFC 7348: flags 0x08 (VNI valid), 24-bit VNI.
void WriteVxlanHeader(uint8_t* out, uint32_t vni);
// The VNI, or nullopt for a header that is short or lacks the I flag.
std::optional<uint32_t> ReadVxlanHeader(std::span<const uint8_t> packet);

// The datagrams of a buffer the kernel joined (UDP GRO): all `segment`
// bytes long but the last (`segment` 0: the buffer is one datagram).
template <typename Each>
void ForEachDatagram(std::span<const uint8_t> joined, size_t segment, Each&& each) {
  if (segment == 0 || segment > joined.size()) segment = joined.size();
  for (size_t at = 0; at < joined.size(); at += segment)
    each(joined.subspan(at, std::min(segment, joined.size() - at)));
}

// Decrements the TTL and fixes the header checksum incrementally (RFC 1624).
void DecrementTtl(std::span<uint8_t> frame, size_t l3_offset);
// Computes the TCP or UDP checksum of an IPv4 frame afresh (for frames
// whose sender left it to an offload); other frames are left alone.
void FillTransportChecksum(std::span<uint8_t> frame, const FrameView& view);
// What a sender left to offloads (a TAP's virtio_net_hdr): a checksum to
// finish, and a TCP segment larger than the MTU to cut into `gso_size`
// pieces ("large segments cross the datapath whole").
struct Offload {
  bool needs_checksum = false;
  uint16_t checksum_start = 0, checksum_offset = 0;  // from the frame's start
  bool tcp4_segments = false;
  uint16_t gso_size = 0;
};
// The virtio_net_hdr (virtio 1.x, 5.1.6: flags, gso_type, hdr_len,
// gso_size, csum_start, csum_offset; little-endian) that carries an
// Offload between a guest and its port, TAP (IFF_VNET_HDR) or
// vhost-user-net alike.
inline constexpr size_t kVnetHeader = 10;
inline constexpr uint16_t kLeastSegmentSize = 8;  // Linux: MSS >= 48, less 40 of options
// The offload of a frame `frame_size` bytes long; false for a description
// that does not fit the frame, asks what is not offered (UDP, TCPv6), or
// cuts into pieces smaller than kLeastSegmentSize.
bool ParseVnetHeader(std::span<const uint8_t, kVnetHeader> header, size_t frame_size, Offload* out);
void WriteVnetHeader(const Offload& offload, uint8_t* header);  // kVnetHeader bytes
// Finishes a checksum the sender left partial (the field holds the
// pseudo-header's sum). False if the offsets fall outside the frame.
bool FinishChecksum(std::span<uint8_t> frame, const Offload& offload);
// Cuts a large TCP/IPv4 frame into frames of at most `gso_size` payload
// bytes, each with its own IPv4 length, identifier and checksum, TCP
// sequence number, flags (FIN and PSH on the last only) and full checksum;
// calls `each` with every one (the span is reused). False if it is not a
// TCP/IPv4 frame this can cut.
bool SegmentTcp4(std::span<const uint8_t> frame, uint16_t gso_size,
                 const std::function<void(std::span<const uint8_t>)>& each);
// The same pieces written back to back into `out` (grown if short), each
// after `headroom` bytes left for the caller (a VXLAN header): all
// `first` bytes long (headroom included) but the last. No pieces: not a
// frame this can cut.
struct Segmented {
  size_t pieces = 0, bytes = 0, first = 0;
};
Segmented SegmentTcp4Into(std::span<const uint8_t> frame, uint16_t gso_size, size_t headroom,
                          std::vector<uint8_t>& out);
// Updates a ones'-complement checksum for one 16-bit word changed (RFC 1624).
void AdjustChecksum(uint8_t* checksum, uint16_t old_word, uint16_t new_word);

inline const Mac kBroadcastMac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
// "Who has `target`? Tell `ip`", broadcast from `mac`.
std::vector<uint8_t> MakeArpRequest(Mac mac, Ipv4 ip, Ipv4 target);

}  // namespace tg::network
