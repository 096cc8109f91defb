// C's stdout/stderr are process-wide. iptables' extension printers need them pointed at a
// buffer for a while (native/iptables/xt.cc StdioCapture), and a libipset session compares its
// output stream with `stdout` when it ends and fcloses it if they differ: a session that lived
// across a swap closed fd 1 or a capture buffer twice. Both hold this lock while they depend on
// `stdout`.
#pragma once
#include <mutex>

namespace nlkit {
inline std::mutex& StdioLock() {
  static std::mutex m;
  return m;
}
}  // namespace nlkit
