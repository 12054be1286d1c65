#include "volume/open_on_first_use.h"

namespace tg::volume {

namespace {

class OnFirstUse final : public Volume {
 public:
  OnFirstUse(Executor ex, uint64_t size, uint32_t block_size, VolumeOpener opener)
      : size_(size), block_size_(block_size), opener_(std::move(opener)), opened_event_(ex) {}

  uint64_t size() const override { return size_; }
  uint32_t block_size() const override { return block_size_; }

  Task<Status> Read(uint64_t offset, std::span<uint8_t> out) override {
    TG_CO_ASSIGN_OR_RETURN(Volume * v, co_await Get());
    co_return co_await v->Read(offset, out);
  }
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> data) override {
    TG_CO_ASSIGN_OR_RETURN(Volume * v, co_await Get());
    co_return co_await v->Write(offset, data);
  }
  Task<Status> Flush() override {
    if (!volume_) co_return Status::Ok();  // nothing was written through us
    co_return co_await volume_->Flush();
  }
  Task<Status> Discard(uint64_t offset, uint64_t length) override {
    TG_CO_ASSIGN_OR_RETURN(Volume * v, co_await Get());
    co_return co_await v->Discard(offset, length);
  }
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length) override {
    TG_CO_ASSIGN_OR_RETURN(Volume * v, co_await Get());
    co_return co_await v->WriteZeroes(offset, length);
  }
  Task<void> Close() override {
    if (volume_) co_await volume_->Close();
  }

 private:
  Task<Result<Volume*>> Get() {
    while (!volume_ && opening_) co_await opened_event_.Wait();
    if (volume_) co_return volume_.get();
    opening_ = true;
    opened_event_.Reset();
    auto opened = co_await opener_();
    opening_ = false;
    opened_event_.Set();
    if (!opened.ok()) co_return opened.status().Annotate("opening the volume");
    if ((*opened)->size() != size_ || (*opened)->block_size() != block_size_) {
      Status differs =
          FailedPrecondition("the volume opened with {} bytes in blocks of {}, not {} in {}",
                             (*opened)->size(), (*opened)->block_size(), size_, block_size_);
      co_await (*opened)->Close();
      co_return differs;
    }
    volume_ = std::move(*opened);
    co_return volume_.get();
  }

  uint64_t size_;
  uint32_t block_size_;
  VolumeOpener opener_;
  std::unique_ptr<Volume> volume_;
  bool opening_ = false;
  Event opened_event_;
};

}  // namespace

std::unique_ptr<Volume> OpenOnFirstUse(Executor ex, uint64_t size, uint32_t block_size,
                                       VolumeOpener opener) {
  return std::make_unique<OnFirstUse>(ex, size, block_size, std::move(opener));
}

}  // namespace tg::volume
