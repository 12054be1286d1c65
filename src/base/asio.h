// The one way the project includes Boost.Asio. Code uses the `asio` namespace
// alias and the awaitable type names below; C++20 coroutines are the async style
// everywhere (see ARCHITECTURE.md, "Async runtime").
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <utility>  // Asio's coroutine support needs std::exchange declared first.

namespace asio = boost::asio;

namespace tg {

using Executor = asio::any_io_executor;
template <typename T = void>
using Task = asio::awaitable<T>;
using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

}  // namespace tg
