// File reading at offsets and atomic replacement, the base of every reader and writer in the runtime.
#include "attn/Runtime/File.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <unistd.h>

using namespace attn::rt;
using attn::test::readBytes;
using attn::test::TempDir;
using attn::test::writeBytes;

namespace {

TEST(File, ReadsAtOffsets) {
  TempDir dir;
  writeBytes(dir.file("f"), "0123456789");
  Expected<InputFile> f = InputFile::open(dir.file("f"));
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->size(), 10u);
  char buf[4] = {};
  ASSERT_TRUE(f->read(3, buf, 4).ok());
  EXPECT_EQ(std::string(buf, 4), "3456");
  Status past = f->read(8, buf, 4);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.message(),
            dir.file("f") + ": unexpected end of file at byte 10 (was it truncated while being read?)");
}

TEST(File, AtomicWriteReplacesWhole) {
  TempDir dir;
  std::string path = dir.file("out.bin");
  writeBytes(path, "old contents that are longer");
  std::string a = "new", b = " data";
  ASSERT_TRUE(writeFileAtomically(path, {{a.data(), a.size()}, {b.data(), b.size()}, {nullptr, 0}}).ok());
  EXPECT_EQ(readBytes(path), "new data");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"out.bin"});
}

TEST(File, AtomicWriteIntoAMissingDirectoryFails) {
  TempDir dir;
  Status s = writeFileAtomically(dir.file("no/such/file"), {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind(
                dir.file("no/such/file") + ": cannot create " + dir.file("no/such/file") + ".tmp.", 0),
            0u)
      << s.message();
  EXPECT_NE(s.message().find(": No such file or directory"), std::string::npos);
}

TEST(File, AtomicWriteNeverFollowsALinkAtItsTemporaryName) {
  TempDir dir;
  std::string path = dir.file("out.bin"), target = dir.file("target");
  writeBytes(target, "keep me");
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ASSERT_EQ(::symlink(target.c_str(), tmp.c_str()), 0);
  ASSERT_TRUE(writeFileAtomically(path, {{"new", 3}}).ok());
  EXPECT_EQ(readBytes(path), "new");
  EXPECT_EQ(readBytes(target), "keep me");
  EXPECT_EQ(dir.list(), (std::vector<std::string>{"out.bin", "target"}));
}

TEST(File, CheckWritableNamesAMissingFolder) {
  TempDir dir;
  EXPECT_TRUE(checkWritable(dir.file("f")).ok());
  Status s = checkWritable(dir.file("no/f"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), dir.file("no/f") + ": cannot be written: the folder '" + dir.file("no") +
                             "' does not exist");
}

TEST(File, RelativePathsSyncTheCurrentDirectory) {
  TempDir dir;
  std::filesystem::path previous = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  Status s = writeFileAtomically("relative.bin", {{"x", 1}});
  std::filesystem::current_path(previous);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(readBytes(dir.file("relative.bin")), "x");
}

} // namespace
