#include "etcd/proto_convert.h"

namespace tg::etcd {

namespace pb = etcdserverpb;

KeyValue FromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{.key = kv.key(),
                  .value = kv.value(),
                  .create_revision = kv.create_revision(),
                  .mod_revision = kv.mod_revision(),
                  .version = kv.version(),
                  .lease = kv.lease()};
}

namespace {
std::string RangeEnd(const std::string& key, bool prefix) {
  return prefix ? PrefixEnd(key) : "";
}
}  // namespace

pb::RangeRequest ToRangeRequest(const std::string& key, const GetOptions& o) {
  pb::RangeRequest req;
  req.set_key(key);
  req.set_range_end(RangeEnd(key, o.prefix));
  req.set_limit(o.limit);
  req.set_revision(o.revision);
  req.set_keys_only(o.keys_only);
  req.set_count_only(o.count_only);
  req.set_serializable(o.serializable);
  req.set_max_create_revision(o.max_create_revision);
  switch (o.sort) {
    case GetOptions::Sort::kNone:
      if (o.descending) req.set_sort_target(pb::RangeRequest::KEY);
      break;
    case GetOptions::Sort::kByKey:
      req.set_sort_target(pb::RangeRequest::KEY);
      break;
    case GetOptions::Sort::kByCreateRevision:
      req.set_sort_target(pb::RangeRequest::CREATE);
      break;
  }
  if (o.descending) {
    req.set_sort_order(pb::RangeRequest::DESCEND);
  } else if (o.sort != GetOptions::Sort::kNone) {
    req.set_sort_order(pb::RangeRequest::ASCEND);
  }
  return req;
}

GetResult FromRangeResponse(const pb::RangeResponse& r) {
  GetResult out;
  out.kvs.reserve(r.kvs_size());
  for (const auto& kv : r.kvs()) out.kvs.push_back(FromProto(kv));
  out.count = r.count();
  out.more = r.more();
  out.revision = r.header().revision();
  return out;
}

pb::DeleteRangeRequest ToDeleteRequest(const std::string& key, const DeleteOptions& o) {
  pb::DeleteRangeRequest req;
  req.set_key(key);
  req.set_range_end(RangeEnd(key, o.prefix));
  return req;
}

namespace {

void ToRequestOp(const TxnOp& op, pb::RequestOp* out) {
  switch (op.kind) {
    case TxnOp::Kind::kGet:
      *out->mutable_request_range() = ToRangeRequest(op.key, op.get);
      break;
    case TxnOp::Kind::kPut: {
      auto* put = out->mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case TxnOp::Kind::kDelete:
      *out->mutable_request_delete_range() = ToDeleteRequest(op.key, op.del);
      break;
  }
}

}  // namespace

pb::TxnRequest ToTxnRequest(const Txn& txn) {
  pb::TxnRequest req;
  for (const auto& c : txn.compares) {
    auto* cmp = req.add_compare();
    cmp->set_key(c.key);
    switch (c.op) {
      case Compare::Op::kEqual:
        cmp->set_result(pb::Compare::EQUAL);
        break;
      case Compare::Op::kNotEqual:
        cmp->set_result(pb::Compare::NOT_EQUAL);
        break;
      case Compare::Op::kLess:
        cmp->set_result(pb::Compare::LESS);
        break;
      case Compare::Op::kGreater:
        cmp->set_result(pb::Compare::GREATER);
        break;
    }
    switch (c.target) {
      case Compare::Target::kVersion:
        cmp->set_target(pb::Compare::VERSION);
        cmp->set_version(c.number);
        break;
      case Compare::Target::kCreateRevision:
        cmp->set_target(pb::Compare::CREATE);
        cmp->set_create_revision(c.number);
        break;
      case Compare::Target::kModRevision:
        cmp->set_target(pb::Compare::MOD);
        cmp->set_mod_revision(c.number);
        break;
      case Compare::Target::kValue:
        cmp->set_target(pb::Compare::VALUE);
        cmp->set_value(c.value);
        break;
      case Compare::Target::kLease:
        cmp->set_target(pb::Compare::LEASE);
        cmp->set_lease(c.number);
        break;
    }
  }
  for (const auto& op : txn.then) ToRequestOp(op, req.add_success());
  for (const auto& op : txn.otherwise) ToRequestOp(op, req.add_failure());
  return req;
}

TxnResult FromTxnResponse(const pb::TxnResponse& r) {
  TxnResult out;
  out.succeeded = r.succeeded();
  out.revision = r.header().revision();
  for (const auto& op : r.responses()) {
    if (op.has_response_range()) out.gets.push_back(FromRangeResponse(op.response_range()));
  }
  return out;
}

}  // namespace tg::etcd
