#include "etcd/watch.h"

#include "base/log.h"
#include "etcd/grpc_bridge.h"
#include "etcd/proto_convert.h"

namespace tg::etcd {

namespace pb = etcdserverpb;

Watcher::Watcher(Client& client, std::string key, WatchOptions options)
    : client_(client),
      key_(std::move(key)),
      range_end_(options.prefix ? PrefixEnd(key_) : ""),
      next_revision_(options.start_revision),
      backoff_(client.options().retry.backoff) {}

Watcher::~Watcher() = default;

Task<Status> Watcher::Connect() {
  ++reconnects_;
  stream_ = client_.OpenWatch(&member_);
  pb::WatchRequest req;
  auto* create = req.mutable_create_request();
  create->set_key(key_);
  create->set_range_end(range_end_);
  create->set_start_revision(next_revision_);
  stream_->Write(std::move(req));
  co_return Status::Ok();
}

Task<Result<WatchBatch>> Watcher::Next() {
  for (;;) {
    if (!stream_ || stream_->ended()) {
      if (stream_) {
        // The stream broke: move on from this member, wait a little, resume.
        Status why = stream_->status();
        if (why.code() != ErrorCode::kCancelled) client_.ReportFailure(member_, why);
        log::Get("etcd")->info("watch stream ended, resuming key={} revision={} reason=\"{}\"",
                               key_, next_revision_, why.message());
        stream_.reset();
        if (!co_await SleepFor(backoff_.Next())) co_return Cancelled("watch cancelled");
      }
      TG_CO_RETURN_IF_ERROR(co_await Connect());
    }
    std::optional<pb::WatchResponse> resp = co_await stream_->Read();
    if (co_await IsCancelled()) co_return Cancelled("watch cancelled");
    if (!resp) continue;  // ended: reconnect above
    if (resp->compact_revision() > 0) {
      co_return DataLoss("watch on {} cannot resume at revision {}: compacted up to {}", key_,
                         next_revision_, resp->compact_revision());
    }
    if (resp->canceled()) {
      // The server dropped the watch (e.g. it lost its leader): resume.
      stream_->Cancel();
      continue;
    }
    if (resp->created()) {
      // From here on, events come in order. The header revision is where a
      // watch with no start revision begins.
      if (next_revision_ == 0) next_revision_ = resp->header().revision() + 1;
      backoff_.Reset();
      continue;
    }
    WatchBatch batch;
    batch.revision = resp->header().revision();
    const int64_t floor = next_revision_;
    for (const auto& ev : resp->events()) {
      // A resumed stream never repeats a revision, but a bug in that promise
      // would duplicate state changes downstream: filter to be sure. (One
      // transaction can put several events at the same revision.)
      if (ev.kv().mod_revision() < floor) continue;
      batch.events.push_back(WatchEvent{.type = ev.type() == mvccpb::Event::DELETE
                                                    ? WatchEvent::Type::kDelete
                                                    : WatchEvent::Type::kPut,
                                        .kv = FromProto(ev.kv())});
      next_revision_ = ev.kv().mod_revision() + 1;
    }
    if (!batch.events.empty()) co_return batch;
  }
}

}  // namespace tg::etcd
