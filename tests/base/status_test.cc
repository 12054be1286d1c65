#include "base/status.h"

#include <gtest/gtest.h>

namespace tg {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("{} is odd", x);
  return x / 2;
}

Result<int> Quarter(int x) {
  TG_ASSIGN_OR_RETURN(int h, Half(x));
  TG_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Status, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = Unavailable("etcd at {} refused", "127.0.0.1:1");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(s.ToString(), "Unavailable: etcd at 127.0.0.1:1 refused");
  EXPECT_EQ(s.Annotate("connecting").ToString(),
            "Unavailable: connecting: etcd at 127.0.0.1:1 refused");
  EXPECT_TRUE(Status::Ok().Annotate("ignored").ok());
}

TEST(Status, ErrnoIsConverted) {
  Status s = ErrnoStatus(ENOENT, "open /nowhere");
  EXPECT_EQ(s.code(), ErrorCode::kIoError);
  EXPECT_EQ(s.message(), "open /nowhere: No such file or directory");
}

TEST(Result, ValueOrErrorPropagates) {
  auto ok = Quarter(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Quarter(6);  // 6 / 2 = 3 is odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "3 is odd");
  EXPECT_EQ(bad.value_or(-1), -1);
}

}  // namespace
}  // namespace tg
