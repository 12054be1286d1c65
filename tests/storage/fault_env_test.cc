// The fault-injecting Env keeps the durability contract of base/env.h: a
// crash keeps exactly what was synced, written with dsync, or named in a
// synced directory; injected errors hit the chosen operation only.
#include "support/fault_env.h"

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace tg::testing {
namespace {

std::vector<uint8_t> Filled(size_t n, uint8_t v) {
  return std::vector<uint8_t>(n, v);
}

// A file named durably, so that only its content is in question.
std::unique_ptr<File> DurableFile(FaultEnv& env, const std::string& path) {
  auto f = env.Open(path, {.create = true});
  EXPECT_OK(f.status());
  EXPECT_OK(env.SyncDir("/d"));
  return std::move(*f);
}

TEST(FaultEnv, ACrashKeepsOnlyWhatWasMadeDurable) {
  FaultEnv env;
  ASSERT_OK(env.CreateDir("/d"));
  auto f = DurableFile(env, "/d/f");
  const auto a = Filled(8192, 1), b = Filled(4096, 2), c = Filled(4096, 3);
  ASSERT_EQ(f->Pwrite(a.data(), a.size(), 0), 8192);
  ASSERT_EQ(f->DataSync(), 0);
  ASSERT_EQ(f->Pwrite(b.data(), b.size(), 0), 4096);  // cached only
  const iovec v{const_cast<uint8_t*>(c.data()), c.size()};
  ASSERT_EQ(f->Pwritev(&v, 1, 8192, /*dsync=*/true), 4096);  // durable at once
  env.Crash();
  EXPECT_EQ(f->Pwrite(b.data(), b.size(), 0), -EIO);  // the process is gone
  env.Restart();
  EXPECT_EQ(f->Pread(nullptr, 0, 0), -EIO) << "a file of the last boot stays dead";
  auto back = env.Contents("/d/f");
  ASSERT_OK(back.status());
  std::vector<uint8_t> want = a;
  want.insert(want.end(), c.begin(), c.end());
  EXPECT_EQ(*back, want);
}

TEST(FaultEnv, NamesAreDurableOnceTheirDirectoryIsSynced) {
  FaultEnv env;
  ASSERT_OK(env.CreateDir("/d"));
  auto old_file = DurableFile(env, "/d/old");
  const auto x = Filled(100, 7);
  ASSERT_EQ(old_file->Pwrite(x.data(), x.size(), 0), 100);
  ASSERT_EQ(old_file->Sync(), 0);
  {
    auto tmp = env.Open("/d/new.tmp", {.create = true});
    ASSERT_OK(tmp.status());
    ASSERT_EQ((*tmp)->Sync(), 0);
  }
  ASSERT_OK(env.Rename("/d/new.tmp", "/d/new"));
  ASSERT_OK(env.Remove("/d/old"));
  env.Crash();  // neither the rename nor the removal was synced
  env.Restart();
  EXPECT_TRUE(env.Exists("/d/old"));
  EXPECT_FALSE(env.Exists("/d/new.tmp"));  // created, never named durably
  EXPECT_FALSE(env.Exists("/d/new"));
  EXPECT_EQ(*env.Contents("/d/old"), x);

  ASSERT_OK(env.Rename("/d/old", "/d/renamed"));
  ASSERT_OK(env.SyncDir("/d"));
  env.Crash();
  env.Restart();
  EXPECT_FALSE(env.Exists("/d/old"));
  EXPECT_EQ(*env.Contents("/d/renamed"), x);
}

TEST(FaultEnv, ACrashAtAWriteTearsIt) {
  FaultEnv env;
  ASSERT_OK(env.CreateDir("/d"));
  auto f = DurableFile(env, "/d/f");
  env.CrashAtMutation(0);
  const auto a = Filled(4 * 4096, 9);
  const iovec v{const_cast<uint8_t*>(a.data()), a.size()};
  EXPECT_EQ(f->Pwritev(&v, 1, 0, /*dsync=*/true), -EIO);
  EXPECT_TRUE(env.crashed());
  env.Restart();
  EXPECT_EQ(*env.Contents("/d/f"), Filled(2 * 4096, 9));  // the first half of its pages
}

TEST(FaultEnv, InjectedErrorsHitTheChosenOperation) {
  FaultEnv env;
  ASSERT_OK(env.CreateDir("/d"));
  auto f = DurableFile(env, "/d/f");
  auto g = DurableFile(env, "/d/g");
  env.InjectError(FaultOp::kWrite, ENOSPC, /*skip=*/1, /*times=*/1, "/d/f");
  const auto a = Filled(10, 1);
  EXPECT_EQ(g->Pwrite(a.data(), a.size(), 0), 10);  // another file
  EXPECT_EQ(f->Pwrite(a.data(), a.size(), 0), 10);  // skipped
  EXPECT_EQ(f->Pwrite(a.data(), a.size(), 0), -ENOSPC);
  EXPECT_EQ(f->Pwrite(a.data(), a.size(), 0), 10);  // once only
  EXPECT_FALSE(env.crashed());
}

// Linux after a failed fsync: the dirty pages are marked clean, so the next
// fsync succeeds without writing them.
TEST(FaultEnv, AFailedSyncForgetsTheDirtyPages) {
  FaultEnv env;
  ASSERT_OK(env.CreateDir("/d"));
  auto f = DurableFile(env, "/d/f");
  const auto a = Filled(4096, 1), b = Filled(4096, 2);
  ASSERT_EQ(f->Pwrite(a.data(), a.size(), 0), 4096);
  ASSERT_EQ(f->Pwrite(a.data(), a.size(), 4096), 4096);
  env.InjectError(FaultOp::kSync, EIO);
  EXPECT_EQ(f->DataSync(), -EIO);
  ASSERT_EQ(f->Pwrite(b.data(), b.size(), 4096), 4096);  // rewritten: dirty again
  EXPECT_EQ(f->DataSync(), 0);
  env.Crash();
  env.Restart();
  std::vector<uint8_t> want = Filled(4096, 0);
  want.insert(want.end(), b.begin(), b.end());
  EXPECT_EQ(*env.Contents("/d/f"), want);
}

TEST(FaultEnv, DirectIoWantsAlignment) {
  FaultEnv env;
  ASSERT_OK(env.CreateDir("/d"));
  DurableFile(env, "/d/f");
  auto direct = env.Open("/d/f", {.direct = true});
  ASSERT_OK(direct.status());
  std::vector<uint8_t> odd(100);
  EXPECT_EQ((*direct)->Pwrite(odd.data(), odd.size(), 0), -EINVAL);
  FaultEnv tmpfs({.direct_io = false});
  ASSERT_OK(tmpfs.CreateDir("/d"));
  DurableFile(tmpfs, "/d/f");
  EXPECT_FALSE(tmpfs.Open("/d/f", {.direct = true}).ok());
}

}  // namespace
}  // namespace tg::testing
