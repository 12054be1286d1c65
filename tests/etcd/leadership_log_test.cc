#include "support/leadership_log.h"

#include <gtest/gtest.h>

namespace tg::testing {
namespace {

TEST(LeadershipLog, IntervalsRunFromElectedToLastLeadingCheck) {
  auto iv = ParseLeadershipLog(
      "100 a ELECTED\n150 a LEADING\n200 a LEADING\n260 a STEPPED_DOWN\n"
      "300 b ELECTED\n350 b LEADING\n400 b LEA");  // torn last line from a SIGKILL
  ASSERT_EQ(iv.size(), 2u);
  EXPECT_EQ(iv[0].name, "a");
  EXPECT_EQ(iv[0].start_ns, 100);
  EXPECT_EQ(iv[0].end_ns, 200);  // the STEPPED_DOWN check did not believe
  EXPECT_EQ(iv[1].name, "b");
  EXPECT_EQ(iv[1].end_ns, 350);
  EXPECT_FALSE(FindOverlap(iv));
}

TEST(LeadershipLog, OverlapOfTwoCandidatesIsFound) {
  auto iv = ParseLeadershipLog("100 a ELECTED\n300 a LEADING\n250 b ELECTED\n400 b LEADING\n");
  auto overlap = FindOverlap(iv);
  ASSERT_TRUE(overlap);
  EXPECT_NE(overlap->find("a led [100, 300]"), std::string::npos) << *overlap;
  // The same candidate re-elected back to back is not an overlap.
  EXPECT_FALSE(
      FindOverlap(ParseLeadershipLog("1 a ELECTED\n5 a LEADING\n5 a ELECTED\n9 a LEADING\n")));
}

}  // namespace
}  // namespace tg::testing
