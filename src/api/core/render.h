// How a reply goes on the wire: JSON by default, XML when the call asked
// for Format=XML (Alibaba's layout: <ActionResponse> around the fields, an
// array written as its items each under the array's own name). Errors get
// {RequestId, HostId, Code, Message, Recommend} with the error's status.
#pragma once

#include <string_view>

#include "api/core/error.h"
#include "api/core/json.h"
#include "api/core/request.h"

namespace tg::api {

// `body` gets RequestId added first.
HttpResponse RenderSuccess(std::string_view action, std::string_view request_id, Json body,
                           bool xml);
HttpResponse RenderError(const ApiError& error, std::string_view request_id,
                         std::string_view host_id, bool xml);
// Json as XML elements (no declaration, no root).
std::string ToXml(const Json& value, std::string_view name);

}  // namespace tg::api
