// The vSwitch's state file: replaced whole (no temporary left behind), its
// directory made, and a failure reported rather than ignored.
#include "network/vswitch/state_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../cli/cli_test_util.h"
#include "support/test_util.h"

namespace tg::network {
namespace {

TEST(VSwitchStateFile, ReplacesTheFileWholeAndMakesItsDirectory) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/state/vswitch.json";
  ASSERT_OK(WriteStateFile(path, "first"));
  EXPECT_EQ(testing::ReadFile(path), "first");
  ASSERT_OK(WriteStateFile(path, "second, longer"));
  EXPECT_EQ(testing::ReadFile(path), "second, longer");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(VSwitchStateFile, AFailedWriteIsReportedAndLeavesTheOldFile) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/vswitch.json";
  ASSERT_OK(WriteStateFile(path, "good"));
  // Its temporary cannot be made: a directory stands in its way.
  std::filesystem::create_directory(path + ".tmp");
  EXPECT_EQ(WriteStateFile(path, "new").code(), ErrorCode::kIoError);
  EXPECT_EQ(testing::ReadFile(path), "good");
  // A directory that cannot be made: a file stands in its way.
  { std::ofstream(dir.path() + "/file") << "x"; }
  EXPECT_EQ(WriteStateFile(dir.path() + "/file/vswitch.json", "x").code(), ErrorCode::kIoError);
}

}  // namespace
}  // namespace tg::network
