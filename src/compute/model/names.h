// The name rules the compute records share: Alibaba's names (a letter, or a
// Chinese character where the API allows one, first) and the UTF-8 check
// that keeps a record encodable.
#pragma once

#include <string_view>

#include "base/status.h"

namespace tg::compute {

// 2-128 characters: letters, digits, ':', '_', '.', '-' (and Chinese
// characters if `chinese`), a letter (or Chinese character) first. `what`
// names the kind in the error ("instance name").
Status ValidateName(std::string_view what, std::string_view name, bool chinese);

// Well-formed UTF-8 without control characters: free text a record may hold.
Status ValidateText(std::string_view what, std::string_view text);

}  // namespace tg::compute
