#include "network/model/address.h"

#include <charconv>

namespace tg::network {

namespace {

// A decimal number in [0, max] that is the whole of `text`.
bool ParseNumber(std::string_view text, uint32_t max, uint32_t& out) {
  if (text.empty() || text.size() > 10) return false;
  if (text.size() > 1 && text[0] == '0') return false;  // no octal-looking forms
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out <= max;
}

}  // namespace

std::string Ipv4::ToString() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                     value & 0xff);
}

Result<Ipv4> ParseIpv4(std::string_view text) {
  Ipv4 a;
  std::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = rest.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) break;
    uint32_t octet;
    if (!ParseNumber(rest.substr(0, dot), 255, octet)) break;
    a.value = a.value << 8 | octet;
    if (i == 3) return a;
    rest = rest.substr(dot + 1);
  }
  return InvalidArgument("'{}' is not an IPv4 address (a.b.c.d)", text);
}

std::string Cidr::ToString() const {
  return fmt::format("{}/{}", base.ToString(), prefix);
}

Result<Cidr> ParseCidr(std::string_view text) {
  const size_t slash = text.find('/');
  uint32_t prefix;
  if (slash == std::string_view::npos || !ParseNumber(text.substr(slash + 1), 32, prefix)) {
    return InvalidArgument("'{}' is not a CIDR block (a.b.c.d/n)", text);
  }
  TG_ASSIGN_OR_RETURN(Ipv4 base, ParseIpv4(text.substr(0, slash)));
  Cidr c{base, static_cast<int>(prefix)};
  if ((base.value & ~c.mask()) != 0) {
    return InvalidArgument("'{}' has host bits set (did you mean {}?)", text,
                           Cidr{{base.value & c.mask()}, c.prefix}.ToString());
  }
  return c;
}

std::string Mac::ToString() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

Result<Mac> ParseMac(std::string_view text) {
  Mac m;
  if (text.size() == 17) {
    bool ok = true;
    for (int i = 0; i < 6 && ok; ++i) {
      if (i < 5 && text[i * 3 + 2] != ':') ok = false;
      uint32_t byte = 0;
      auto [end, ec] = std::from_chars(text.data() + i * 3, text.data() + i * 3 + 2, byte, 16);
      ok = ok && ec == std::errc() && end == text.data() + i * 3 + 2;
      m.bytes[i] = static_cast<uint8_t>(byte);
    }
    if (ok) return m;
  }
  return InvalidArgument("'{}' is not a MAC address (aa:bb:cc:dd:ee:ff)", text);
}

Mac MacFromNumber(uint64_t n) {
  // 0x02: locally administered, unicast.
  return Mac{{0x02, static_cast<uint8_t>(n >> 32), static_cast<uint8_t>(n >> 24),
              static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
              static_cast<uint8_t>(n)}};
}

}  // namespace tg::network
