// Alibaba's error codes and statuses, and how a store's Status maps to them.
#include "api/core/error.h"

#include <gtest/gtest.h>

#include "api/core/json.h"

namespace tg::api {
namespace {

TEST(ErrorTest, Constructors) {
  ApiError nf = NotFound("Instance", "i-x");
  EXPECT_EQ(nf.http_status, 404);
  EXPECT_EQ(nf.code, "InvalidInstanceId.NotFound");
  EXPECT_EQ(nf.message, "The specified InstanceId \"i-x\" does not exist.");
  ApiError m = Malformed("CidrBlock", "not a CIDR");
  EXPECT_EQ(m.http_status, 400);
  EXPECT_EQ(m.code, "InvalidCidrBlock.Malformed");
  EXPECT_NE(m.message.find("not a CIDR"), std::string::npos);
  ApiError s = IncorrectStatus("Instance", "it is running");
  EXPECT_EQ(s.http_status, 403);
  EXPECT_EQ(s.code, "IncorrectInstanceStatus");
  ApiError i = InvalidParameter("Size", "too big");
  EXPECT_EQ(i.code, "InvalidParameter");
  EXPECT_EQ(i.message, "The specified parameter \"Size\" is not valid: too big");
  ApiError internal = InternalError("boom");
  EXPECT_EQ(internal.http_status, 500);
  EXPECT_EQ(internal.code, "InternalError");
  ApiError e = Error(409, "OperationConflict", "m");
  EXPECT_EQ(e.http_status, 409);
  EXPECT_EQ(e.message, "m");
}

TEST(ErrorTest, FromStatusDefaults) {
  struct Case {
    Status status;
    int http;
    std::string code;
  };
  std::vector<Case> cases = {
      {Status(ErrorCode::kInvalidArgument, "bad cidr"), 400, "InvalidParameter"},
      {Status(ErrorCode::kNotFound, "no vpc"), 404, "InvalidParameter.NotFound"},
      {Status(ErrorCode::kAlreadyExists, "dup"), 400, "InvalidParameter.Duplicate"},
      {Status(ErrorCode::kFailedPrecondition, "busy"), 403, "OperationDenied"},
      {Status(ErrorCode::kResourceExhausted, "full"), 403, "QuotaExceed"},
      {Status(ErrorCode::kAborted, "raced"), 409, "OperationConflict"},
      {Status(ErrorCode::kUnavailable, "etcd down"), 503, "ServiceUnavailable"},
      {Status(ErrorCode::kDeadlineExceeded, "slow"), 503, "ServiceUnavailable"},
      {Status(ErrorCode::kCancelled, "stop"), 503, "ServiceUnavailable"},
      {Status(ErrorCode::kDataLoss, "corrupt"), 500, "InternalError"},
      {Status(ErrorCode::kIoError, "eio"), 500, "InternalError"},
  };
  for (const Case& c : cases) {
    ApiError e = FromStatus(c.status);
    EXPECT_EQ(e.http_status, c.http) << c.code;
    EXPECT_EQ(e.code, c.code);
    EXPECT_NE(e.message.find(c.status.message()), std::string::npos) << e.message;
  }
  EXPECT_EQ(FromStatus(Status(ErrorCode::kInvalidArgument, "bad cidr")).message, "bad cidr");
}

TEST(ErrorTest, FromStatusWithActionCodes) {
  StatusCodes codes;
  codes.not_found = NotFound("Vpc", "vpc-1");
  codes.failed_precondition = Error(400, "DependencyViolation.VSwitch", "");
  ApiError nf = FromStatus(Status(ErrorCode::kNotFound, "vpc vpc-1 is gone"), codes);
  EXPECT_EQ(nf.http_status, 404);
  EXPECT_EQ(nf.code, "InvalidVpcId.NotFound");
  EXPECT_EQ(nf.message, "The specified VpcId \"vpc-1\" does not exist: vpc vpc-1 is gone");
  ApiError dep = FromStatus(Status(ErrorCode::kFailedPrecondition, "has vswitches"), codes);
  EXPECT_EQ(dep.code, "DependencyViolation.VSwitch");
  EXPECT_EQ(dep.message, "has vswitches");
  // Unset entries keep the defaults.
  EXPECT_EQ(FromStatus(Status(ErrorCode::kAlreadyExists, "x"), codes).code,
            "InvalidParameter.Duplicate");
}

TEST(ErrorTest, ApiResultAndMacros) {
  auto half = [](int x) -> ApiResult<int> {
    if (x % 2 != 0) return InvalidParameter("x", "odd");
    return x / 2;
  };
  auto quarter = [&](int x) -> ApiResult<int> {
    TG_API_ASSIGN_OR_RETURN(int h, half(x));
    TG_API_ASSIGN_OR_RETURN(int q, half(h));
    return q;
  };
  EXPECT_EQ(quarter(8).value(), 2);
  EXPECT_FALSE(quarter(6).ok());
  EXPECT_EQ(quarter(6).error().code, "InvalidParameter");
  auto check = [](bool good) -> ApiStatus {
    if (!good) return MissingParameter("A");
    return Ok();
  };
  auto both = [&](bool a, bool b) -> ApiStatus {
    TG_API_RETURN_IF_ERROR(check(a));
    TG_API_RETURN_IF_ERROR(check(b));
    return Ok();
  };
  EXPECT_TRUE(both(true, true).ok());
  EXPECT_FALSE(both(true, false).ok());
}

TEST(JsonTest, IsoTimes) {
  EXPECT_EQ(IsoMinutes(1512878640), "2017-12-10T04:04Z");
  EXPECT_EQ(IsoSeconds(1622534400), "2021-06-01T08:00:00Z");
  EXPECT_EQ(IsoSeconds(0), "1970-01-01T00:00:00Z");
  Json w = Wrapped("Vpc", Json("not an array"));
  EXPECT_TRUE(w["Vpc"].is_array());
  EXPECT_TRUE(w["Vpc"].empty());
}

}  // namespace
}  // namespace tg::api
