// POSIX file reading and atomic replacement. Atomicity matters because the files written here are weights,
// checkpoints and results a user may have spent hours producing: a crash, a full disk or a kill in the
// middle of a write must not leave a truncated file where a good one was.
#include "attn/Runtime/File.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <string_view>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attn::rt {

static std::string systemError() { return std::strerror(errno); }

bool isSpecialFile(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
}

Expected<InputFile> InputFile::open(const std::string &path) {
  // Non-blocking, so that a FIFO is refused below instead of waiting for a writer; a regular file's reads
  // ignore the flag, which is cleared anyway.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return makeError(path, ": cannot open: ", systemError());
  struct stat st;
  if (fstat(fd, &st) != 0) {
    Error error = makeError(path, ": cannot stat: ", systemError());
    ::close(fd);
    return error;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return makeError(path, ": not a regular file");
  }
  if (int flags = fcntl(fd, F_GETFL); flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    Error error = makeError(path, ": cannot open: ", systemError());
    ::close(fd);
    return error;
  }
  return InputFile(path, fd, static_cast<uint64_t>(st.st_size));
}

InputFile::InputFile(InputFile &&other) noexcept { *this = std::move(other); }

InputFile &InputFile::operator=(InputFile &&other) noexcept {
  if (this == &other)
    return *this;
  if (fd_ >= 0)
    ::close(fd_);
  path_ = std::move(other.path_);
  fd_ = other.fd_;
  size_ = other.size_;
  other.fd_ = -1;
  return *this;
}

InputFile::~InputFile() {
  if (fd_ >= 0)
    ::close(fd_);
}

Status InputFile::read(uint64_t offset, void *dest, size_t size) const {
  auto *out = static_cast<char *>(dest);
  while (size > 0) {
    ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return makeError(path_, ": read failed: ", systemError());
    if (n == 0)
      return makeError(path_, ": unexpected end of file at byte ", offset,
                       " (was it truncated while being read?)");
    out += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return {};
}

static Status writeAll(int fd, const std::string &path, const std::vector<ByteRange> &pieces) {
  for (const ByteRange &piece : pieces) {
    const char *p = static_cast<const char *>(piece.data);
    size_t left = piece.size;
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return makeError(path, ": write failed: ", systemError());
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (::fsync(fd) != 0)
    return makeError(path, ": fsync failed: ", systemError());
  return {};
}

static std::string directoryOf(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void removeStaleTemporaries(const std::string &path) {
  std::string dir = directoryOf(path);
  std::string prefix = path.substr(path.find_last_of('/') + 1) + ".tmp.";
  DIR *listing = ::opendir(dir.c_str());
  if (!listing)
    return;
  while (const dirent *entry = ::readdir(listing)) {
    std::string_view name = entry->d_name;
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix ||
        name.find_first_not_of("0123456789", prefix.size()) != std::string_view::npos ||
        name.size() - prefix.size() > 9)
      continue;
    pid_t pid = static_cast<pid_t>(std::stol(std::string(name.substr(prefix.size()))));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH)
      continue; // ours, or a live writer's
    std::string stale = dir + "/" + std::string(name);
    struct stat st;
    if (::lstat(stale.c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
      ::unlink(stale.c_str());
  }
  ::closedir(listing);
}

Status writeFileAtomically(const std::string &path, const std::vector<ByteRange> &pieces) {
  removeStaleTemporaries(path);
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::open(tmp.c_str(), kCreate, 0666);
  if (fd < 0 && errno == EEXIST && ::unlink(tmp.c_str()) == 0) // a leftover or a planted link: not ours
    fd = ::open(tmp.c_str(), kCreate, 0666);
  if (fd < 0)
    return makeError(path, ": cannot create ", tmp, ": ", systemError());
  Status written = writeAll(fd, tmp, pieces);
  if (::close(fd) != 0 && written)
    written = makeError(tmp, ": close failed: ", systemError());
  if (written && ::rename(tmp.c_str(), path.c_str()) != 0)
    written = makeError(path, ": cannot replace it with ", tmp, ": ", systemError());
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  // The rename is durable only once the directory entry is; some file systems cannot sync a directory
  // (EINVAL), and there is nothing better to do on them.
  std::string dir = directoryOf(path);
  int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0)
    return makeError(path, ": written, but its directory cannot be opened to sync it: ", systemError());
  int synced = ::fsync(dirFd);
  int syncErrno = errno;
  ::close(dirFd);
  if (synced != 0 && syncErrno != EINVAL) {
    errno = syncErrno;
    return makeError(path, ": written, but syncing its directory failed: ", systemError());
  }
  return {};
}

Status checkWritable(const std::string &path) {
  std::string dir = directoryOf(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return makeError(path, ": cannot be written: the folder '", dir, "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    return makeError(path, ": cannot be written: the folder '", dir, "' is not writable (", systemError(),
                     ")");
  removeStaleTemporaries(path);
  return {};
}

} // namespace attn::rt
