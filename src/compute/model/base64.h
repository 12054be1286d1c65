// Base64 as the API carries binary (user data, console output, SSH key
// blobs): the standard alphabet, padded, nothing else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tg::compute {

std::string EncodeBase64(std::string_view data);

// Strict: no whitespace, padding only at the end, no bits set past the data
// (so that one text decodes one way, and one value has one text). nullopt if
// `text` is not that. Empty text is empty data.
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace tg::compute
