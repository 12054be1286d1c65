#include "compute/model/names.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace tg::compute {

namespace {

// The code point starting at text[*pos] (advancing *pos past it), or nullopt
// if the bytes there are not well-formed UTF-8 (overlong forms and surrogates
// included: nlohmann refuses to encode them).
std::optional<char32_t> NextCodePoint(std::string_view text, size_t* pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t b0 = byte(*pos);
  size_t len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    ++*pos;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (text.size() - *pos < len) return std::nullopt;
  for (size_t i = 1; i < len; ++i) {
    if ((byte(*pos + i) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(*pos + i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  *pos += len;
  return cp;
}

bool IsAsciiLetter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsDigit(char32_t c) {
  return c >= '0' && c <= '9';
}
// CJK Unified Ideographs and their extension A.
bool IsChinese(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF);
}

}  // namespace

Status ValidateName(std::string_view what, std::string_view name, bool chinese) {
  // Decoded whole first: the errors below quote the name, so it must be text.
  std::vector<char32_t> chars;
  for (size_t pos = 0; pos < name.size();) {
    const std::optional<char32_t> c = NextCodePoint(name, &pos);
    if (!c) return InvalidArgument("{} is not UTF-8", what);
    chars.push_back(*c);
  }
  if (chars.size() < 2 || chars.size() > 128)
    return InvalidArgument("{} must be 2-128 characters", what);
  const auto letter = [&](char32_t c) { return IsAsciiLetter(c) || (chinese && IsChinese(c)); };
  if (!letter(chars[0])) {
    return InvalidArgument("{} '{}' must start with a letter{}", what, name,
                           chinese ? " or a Chinese character" : "");
  }
  for (char32_t c : chars) {
    if (!letter(c) && !IsDigit(c) && c != ':' && c != '_' && c != '.' && c != '-') {
      return InvalidArgument("{} '{}': only letters, digits, ':', '_', '.' and '-'{}", what, name,
                             chinese ? " and Chinese characters" : "");
    }
  }
  return Status::Ok();
}

Status ValidateText(std::string_view what, std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const std::optional<char32_t> c = NextCodePoint(text, &pos);
    if (!c) return InvalidArgument("{} is not UTF-8", what);
    if (*c < 0x20 || *c == 0x7F) return InvalidArgument("{} holds a control character", what);
  }
  return Status::Ok();
}

}  // namespace tg::compute
