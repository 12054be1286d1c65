// The `tiangong node` flags that spell a structure: each form is read into
// the host library's typed options, and every malformed one is refused with
// the flag's text in the message.
#include "cli/node_flags.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace tg::cli {
namespace {

using host::VolumeSpec;

TEST(NodeFlags, VolumeForms) {
  auto memory = ParseVolumeFlag("scratch=memory:64M");
  ASSERT_OK(memory.status());
  EXPECT_EQ(memory->name, "scratch");
  EXPECT_EQ(memory->kind, VolumeSpec::Kind::kMemory);
  EXPECT_EQ(memory->size, 64u << 20);

  auto file = ParseVolumeFlag("disk=file:/a/b.img:1G");
  ASSERT_OK(file.status());
  EXPECT_EQ(file->kind, VolumeSpec::Kind::kFile);
  EXPECT_EQ(file->path, "/a/b.img");
  EXPECT_EQ(file->size, 1u << 30);
  auto sized_by_file = ParseVolumeFlag("disk=file:/a/b.img");
  ASSERT_OK(sized_by_file.status());
  EXPECT_EQ(sized_by_file->path, "/a/b.img");
  EXPECT_EQ(sized_by_file->size, 0u);

  auto ebs = ParseVolumeFlag("disk=ebs");
  ASSERT_OK(ebs.status());
  EXPECT_EQ(ebs->kind, VolumeSpec::Kind::kDistributed);
  EXPECT_EQ(ebs->path, "disk") << "the volume's name defaults to the export's";
  auto named = ParseVolumeFlag("disk=ebs:vol-7");
  ASSERT_OK(named.status());
  EXPECT_EQ(named->path, "vol-7");
}

TEST(NodeFlags, MalformedVolumesAreRefused) {
  for (const char* text : {"", "disk", "=memory:1G", "disk=memory", "disk=memory:lots",
                           "disk=file:", "disk=tape:1G", "disk=file:/a:1Q"}) {
    auto spec = ParseVolumeFlag(text);
    EXPECT_EQ(spec.status().code(), ErrorCode::kInvalidArgument) << text;
  }
  auto unknown = ParseVolumeFlag("disk=tape:1G");
  EXPECT_NE(unknown.status().message().find("disk=tape:1G"), std::string::npos) << unknown.status();
}

TEST(NodeFlags, VhostBlkExports) {
  auto blk = ParseVhostBlkFlag("disk=/run/disk.sock");
  ASSERT_OK(blk.status());
  EXPECT_EQ(blk->volume, "disk");
  EXPECT_EQ(blk->socket, "/run/disk.sock");
  for (const char* text : {"", "disk", "disk=", "=/run/disk.sock"}) {
    EXPECT_EQ(ParseVhostBlkFlag(text).status().code(), ErrorCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace tg::cli
