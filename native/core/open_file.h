// Opening a path a user named without letting it block the thread: a FIFO's open() waits for
// a writer forever (and a worker that never returns keeps the process from exiting), a device
// may wait too. O_NONBLOCK makes open() return at once; the type is checked on the open file.
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace nlkit {

inline const char* FileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Opens `path` with O_NONBLOCK and returns the descriptor when it is a regular file (network
// namespace files of nsfs are). Otherwise returns -1 with errno set (EINVAL: another kind of
// file) and `why` in words; a non-regular file is closed again without being read.
inline int OpenRegularFile(const std::string& path, int flags, mode_t mode, std::string* why) {
  int fd = open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    *why = path + " is " + FileKind(st.st_mode) + ", not a regular file";
    close(fd);
    errno = EINVAL;
    return -1;
  }
  // Later reads and flock() behave as they would have without the flag.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace nlkit
