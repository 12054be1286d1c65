// Bridges gRPC's callback API to the async runtime: a unary call becomes an
// awaitable, a bidirectional stream becomes an object with awaitable reads.
//
// gRPC runs its callbacks on its own threads; everything here hands results to
// the owning executor with asio::post, so the coroutines that await them run on
// their event loop only. Every call is registered in a CallTracker so that its
// owner can cancel all calls and wait for gRPC to finish with them before it
// goes away (no callback may post to a dead event loop).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_callback.h>

#include <condition_variable>
#include <map>
#include <mutex>

#include "base/async.h"
#include "base/status.h"

namespace tg::etcd::detail {

// Converts a gRPC status into the project's Status, naming the operation.
Status FromGrpc(const grpc::Status& s, std::string_view what);

class CallTracker {
 public:
  // Returns false if the tracker is shut down (the call must not start).
  bool Add(uint64_t id, std::function<void()> cancel);
  void Remove(uint64_t id);
  uint64_t NextId() { return next_id_.fetch_add(1); }
  // Cancels every live call and blocks until gRPC has finished all of them.
  void CancelAllAndWait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::function<void()>> live_;
  bool shut_down_ = false;
  std::atomic<uint64_t> next_id_{1};
};

// Runs one unary RPC. `start(ctx, req, resp, done)` must begin it, e.g.
//   stub->async()->Range(ctx, req, resp, std::move(done)).
// Cancelling the awaiting coroutine cancels the RPC.
template <typename Req, typename Resp, typename StartFn>
Task<Result<Resp>> UnaryCall(CallTracker& tracker, std::string_view what, Duration timeout,
                             Req request, StartFn start) {
  struct State {
    grpc::ClientContext ctx;
    Req req;
    Resp resp;
    grpc::Status status;
  };
  auto state = std::make_shared<State>();
  state->req = std::move(request);
  state->ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  const uint64_t id = tracker.NextId();
  if (!tracker.Add(id, [state] { state->ctx.TryCancel(); })) {
    co_return Cancelled("{}: client is shutting down", what);
  }
  // Tracked: the event loop must not think it has run out of work while gRPC
  // still owes it a completion.
  Executor ex =
      asio::prefer(co_await asio::this_coro::executor, asio::execution::outstanding_work.tracked);
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&](auto handler) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        if (slot.is_connected()) {
          slot.assign([state](asio::cancellation_type) { state->ctx.TryCancel(); });
        }
        // std::function needs a copyable callable; the handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        // Runs on a gRPC thread, and gRPC destroys this callable later, at a
        // time of its choosing. So nothing of the event loop may stay in it:
        // the tracked executor and the handler leave before the tracker is
        // told (the client's destructor waits for that, and the loop is torn
        // down only after the client), else a CLI that finishes at once
        // frees the loop under the executor still held here.
        start(&state->ctx, &state->req, &state->resp,
              [state, shared, ex, &tracker, id](grpc::Status s) mutable {
                state->status = std::move(s);
                {
                  Executor loop = std::move(ex);
                  asio::post(loop, [handler = std::move(shared)] {
                    auto s = asio::get_associated_cancellation_slot(*handler);
                    if (s.is_connected()) s.clear();
                    (*handler)();
                  });
                }
                tracker.Remove(id);
              });
      },
      asio::use_awaitable);
  if (!state->status.ok()) co_return FromGrpc(state->status, what);
  co_return std::move(state->resp);
}

// A bidirectional stream. Writes are queued and sent in order; Read() returns
// the next message, or nullopt once the stream has ended (status() says why).
// REQUIRES: used from one executor; destroyed before its CallTracker shuts down
// is fine (destruction cancels the stream).
template <typename Req, typename Resp>
class BidiStream {
 public:
  using StartFn = std::function<void(grpc::ClientContext*, grpc::ClientBidiReactor<Req, Resp>*)>;

  // `start(ctx, reactor)` must bind the reactor, e.g. stub->async()->Watch(ctx, reactor).
  // `require_leader` asks etcd to end the stream if its member loses the raft leader.
  static std::unique_ptr<BidiStream> Open(Executor ex, CallTracker& tracker, StartFn start,
                                          bool require_leader) {
    auto stream = std::unique_ptr<BidiStream>(new BidiStream(ex));
    auto reactor = std::make_shared<Reactor>(ex, stream->loop_side_, tracker);
    if (require_leader) reactor->ctx.AddMetadata("hasleader", "true");
    stream->reactor_ = reactor;
    if (!tracker.Add(reactor->id, [reactor] { reactor->ctx.TryCancel(); })) {
      stream->loop_side_->status = Cancelled("client is shutting down");
      stream->loop_side_->incoming.Close();
      return stream;
    }
    reactor->self = reactor;
    start(&reactor->ctx, reactor.get());
    reactor->Begin();
    return stream;
  }

  ~BidiStream() { Cancel(); }

  void Write(Req req) {
    if (auto r = reactor_.lock()) r->Write(std::move(req));
  }
  Task<std::optional<Resp>> Read() { return loop_side_->incoming.Pop(); }
  // Ends the stream; a pending Read() returns nullopt.
  void Cancel() {
    if (auto r = reactor_.lock()) {
      r->ctx.TryCancel();
      r->ReleaseHold();
    }
  }
  const Status& status() const { return loop_side_->status; }
  bool ended() const { return loop_side_->incoming.closed(); }

 private:
  struct LoopSide {
    explicit LoopSide(Executor ex) : incoming(ex) {}
    AsyncQueue<Resp> incoming;
    Status status;
  };

  class Reactor : public grpc::ClientBidiReactor<Req, Resp> {
   public:
    // The executor is tracked: the loop keeps running while the stream lives.
    Reactor(Executor ex, std::shared_ptr<LoopSide> loop, CallTracker& tracker)
        : ex_(asio::prefer(ex, asio::execution::outstanding_work.tracked)),
          loop_(loop),
          tracker_(tracker),
          id(tracker.NextId()) {}

    // We write from outside gRPC's reactions (from the event loop), which
    // gRPC allows only under a hold; the hold goes once the stream ends.
    void Begin() {
      held_ = true;
      this->AddHold();
      this->StartRead(&reading_);
      this->StartCall();
    }
    void ReleaseHold() {
      {
        std::lock_guard lock(mu_);
        if (!held_) return;
        held_ = false;
      }
      this->RemoveHold();  // outside the lock: it may run OnDone inline
    }
    void Write(Req req) {
      std::lock_guard lock(mu_);
      if (!held_) return;
      writes_.push_back(std::move(req));
      if (!writing_) {
        writing_ = true;
        this->StartWrite(&writes_.front());
      }
    }
    void OnWriteDone(bool ok) override {
      std::lock_guard lock(mu_);
      writes_.pop_front();
      if (ok && !writes_.empty()) {
        this->StartWrite(&writes_.front());
      } else {
        writing_ = false;
      }
    }
    void OnReadDone(bool ok) override {
      if (!ok) {
        ReleaseHold();  // the stream is ending; OnDone follows
        return;
      }
      asio::post(ex_, [weak = loop_, msg = std::move(reading_)]() mutable {
        if (auto loop = weak.lock()) loop->incoming.Push(std::move(msg));
      });
      reading_ = Resp();
      this->StartRead(&reading_);
    }
    void OnDone(const grpc::Status& s) override {
      asio::post(ex_, [weak = loop_, st = FromGrpc(s, "stream")] {
        if (auto loop = weak.lock()) {
          loop->status = st.ok() ? Unavailable("stream: ended by the server") : st;
          loop->incoming.Close();
        }
      });
      tracker_.Remove(id);
      self.reset();  // may delete this; nothing may follow
    }

    grpc::ClientContext ctx;
    std::shared_ptr<Reactor> self;  // keeps the reactor alive until OnDone

   private:
    Executor ex_;
    std::weak_ptr<LoopSide> loop_;
    CallTracker& tracker_;
    std::mutex mu_;
    std::deque<Req> writes_;
    bool writing_ = false;
    bool held_ = false;
    Resp reading_;

   public:
    const uint64_t id;
  };

  explicit BidiStream(Executor ex) : loop_side_(std::make_shared<LoopSide>(ex)) {}

  std::shared_ptr<LoopSide> loop_side_;
  std::weak_ptr<Reactor> reactor_;
};

}  // namespace tg::etcd::detail
