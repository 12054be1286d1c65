#include "base/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_util.h"

namespace tg {
namespace {

TEST(SplitList, TrimsAndDropsEmptyParts) {
  EXPECT_EQ(SplitList("a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(SplitList("").empty());
  EXPECT_EQ(SplitList("http://127.0.0.1:2379"),
            (std::vector<std::string>{"http://127.0.0.1:2379"}));
}

TEST(Config, FileSetsFlagsAndCommandLineWins) {
  testing::TempDir dir;
  std::string path = dir.path() + "/tiangong.toml";
  std::ofstream(path) << "log-level = \"debug\"\nlog-format = \"json\"\n";
  CLI::App app;
  CommonFlags flags;
  AddCommonFlags(app, flags);
  std::vector<std::string> args = {"--log-format", "text", "--config", path};
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
  EXPECT_EQ(flags.log_level, "debug");
  EXPECT_EQ(flags.log_format, "text");
  EXPECT_TRUE(ApplyCommonFlags(flags).ok());
}

TEST(Config, BadLogSettingsAreClearErrors) {
  CommonFlags flags{.log_level = "loud", .log_format = "text"};
  Status s = ApplyCommonFlags(flags);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("loud"), std::string::npos);
  flags = {.log_level = "info", .log_format = "xml"};
  EXPECT_EQ(ApplyCommonFlags(flags).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tg
