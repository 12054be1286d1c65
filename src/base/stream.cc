#include "base/stream.h"

namespace tg {

AlignedBuffer AlignedBuffer::Make(size_t n) {
  size_t rounded = (n + 4095) / 4096 * 4096;
  AlignedBuffer b;
  b.data.reset(static_cast<uint8_t*>(std::aligned_alloc(4096, rounded ? rounded : 4096)));
  b.size = n;
  return b;
}

SharedBytes::SharedBytes(AlignedBuffer&& buffer) {
  if (buffer.size == 0) return;
  owner_ = std::make_shared<const AlignedBuffer>(std::move(buffer));
  bytes_ = owner_->span();
}

SharedBytes SharedBytes::CopyOf(std::span<const uint8_t> bytes) {
  AlignedBuffer b = AlignedBuffer::Make(bytes.size());
  if (!bytes.empty()) std::memcpy(b.data.get(), bytes.data(), bytes.size());
  return SharedBytes(std::move(b));
}

SharedBytes SharedBytes::Slice(size_t offset, size_t n) const {
  SharedBytes s;
  s.owner_ = owner_;
  s.bytes_ = bytes_.subspan(offset, n);
  return s;
}

Task<Status> BufferedReader::Receive(std::span<uint8_t> into) {
  bool first = true;  // nothing of this message read yet
  while (!into.empty()) {
    if (end_ > start_) {
      size_t n = std::min(into.size(), end_ - start_);
      std::memcpy(into.data(), in_.data() + start_, n);
      start_ += n;
      into = into.subspan(n);
      first = false;
      continue;
    }
    boost::system::error_code ec;
    if (into.size() >= kDirectReceive) {
      size_t n = co_await asio::async_read(socket_, asio::buffer(into.data(), into.size()),
                                           asio::redirect_error(asio::use_awaitable, ec));
      into = into.subspan(n);
    } else {
      start_ = 0;
      end_ = co_await socket_.async_read_some(asio::buffer(in_),
                                              asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == asio::error::eof && first)
      co_return Cancelled("{}: peer closed the connection", who_);
    if (ec == asio::error::eof) co_return Unavailable("{}: peer closed mid-message", who_);
    if (ec) co_return Unavailable("{}: receive: {}", who_, ec.message());
  }
  co_return Status::Ok();
}

Task<void> MessageWriter::Run() {
  std::vector<OutMessage> batch;
  std::vector<asio::const_buffer> bufs;
  while (auto first = co_await queue_.Pop()) {
    batch.clear();
    bufs.clear();
    batch.push_back(std::move(*first));
    while (batch.size() < 64) {
      auto more = queue_.TryPop();
      if (!more) break;
      batch.push_back(std::move(*more));
    }
    for (auto& m : batch) {
      bufs.push_back(asio::buffer(m.header));
      if (!m.payload.empty())
        bufs.push_back(asio::buffer(m.payload.span().data(), m.payload.size()));
    }
    boost::system::error_code ec;
    co_await asio::async_write(socket_, bufs, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      queue_.Close();
      socket_.close(ec);  // the reader notices and winds down
      co_return;
    }
  }
}

}  // namespace tg
