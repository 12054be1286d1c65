// Conversions between the client's plain structs and etcd's protobuf messages.
// Internal to src/etcd: nothing outside sees a protobuf type.
#pragma once

#include "etcd/client.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace tg::etcd {

KeyValue FromProto(const mvccpb::KeyValue& kv);
etcdserverpb::RangeRequest ToRangeRequest(const std::string& key, const GetOptions& o);
GetResult FromRangeResponse(const etcdserverpb::RangeResponse& r);
etcdserverpb::DeleteRangeRequest ToDeleteRequest(const std::string& key, const DeleteOptions& o);
etcdserverpb::TxnRequest ToTxnRequest(const Txn& txn);
TxnResult FromTxnResponse(const etcdserverpb::TxnResponse& r);

}  // namespace tg::etcd
