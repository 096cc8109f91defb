// Memory for tables of 100k rules: a pool of large reusable buffers in their own mappings
// (Blob), an arena of bytes that never move (Arena), and helper threads that fault pages in
// ahead of the thread that fills them (PrefaultSoon, Blob::Reserve, Arena::Prepare).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <string_view>
#include <utility>
#include <vector>

namespace nlkit {
namespace ipt {

// Faults in the pages of memory the caller is about to fill (a vector's reserved storage),
// on a helper thread, so that the thread filling it does not take the faults one by one.
void PrefaultSoon(const void* p, size_t bytes);

// A large reusable buffer in its own mapping, with transparent huge pages where the kernel
// allows them: a 100 MB table blob then costs a few dozen page faults instead of 25,000.
class Blob {
 public:
  Blob() = default;
  ~Blob();
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;
  Blob(Blob&& o) noexcept : p_(o.p_), cap_(o.cap_) { o.p_ = nullptr, o.cap_ = 0; }
  Blob& operator=(Blob&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(cap_, o.cap_);
    return *this;
  }
  // A process-wide pool: buffers go back to it when a restore is done, and the next
  // restore (on any handle) takes the largest. Pages already faulted in stay so.
  static Blob Take();
  // The smallest pooled buffer of at least n bytes, else an empty one.
  static Blob TakeAtLeast(size_t n);
  static void Give(Blob&& b);
  // Room for n bytes (contents not kept when it grows); false when out of memory.
  // `prefault`: a new mapping's pages are faulted in on another thread meanwhile.
  bool Reserve(size_t n, bool prefault = false);
  uint8_t* data() { return p_; }
  const uint8_t* data() const { return p_; }
  size_t capacity() const { return cap_; }

 private:
  uint8_t* p_ = nullptr;
  size_t cap_ = 0;
};

// Bytes that never move once written, carved from large mappings: a cache of 160k
// compiled rules is a few dozen page-fault-friendly chunks instead of a million mallocs.
class Arena {
 public:
  Arena() = default;
  ~Arena() { Clear(); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& o) noexcept { Swap(o); }
  Arena& operator=(Arena&& o) noexcept {
    Swap(o);
    return *this;
  }
  // n bytes, 8-aligned, uninitialised; nullptr when out of memory.
  uint8_t* Alloc(size_t n) {
    n = (n + 7) & ~size_t(7);
    if (static_cast<size_t>(end_ - cur_) < n && !Grow(n)) return nullptr;
    uint8_t* p = cur_;
    cur_ += n;
    return p;
  }
  std::string_view Copy(std::string_view s) {
    uint8_t* p = Alloc(s.size());
    if (!p) return {};
    memcpy(p, s.data(), s.size());
    return std::string_view(reinterpret_cast<const char*>(p), s.size());
  }
  size_t used() const { return used_ - static_cast<size_t>(end_ - cur_); }
  // Room for n more bytes in one chunk, its pages faulted in on another thread while the
  // caller goes on (a first restore fills a 100 MB arena: its page faults then cost nothing).
  bool Prepare(size_t n);
  void Clear();
  void Swap(Arena& o) noexcept {
    std::swap(chunks_, o.chunks_);
    std::swap(cur_, o.cur_);
    std::swap(end_, o.end_);
    std::swap(used_, o.used_);
  }

 private:
  bool Grow(size_t n);
  bool AddChunk(size_t size);  // a fresh mapping becomes the current chunk
  std::vector<std::pair<uint8_t*, size_t>> chunks_;
  uint8_t* cur_ = nullptr;
  uint8_t* end_ = nullptr;
  size_t used_ = 0;  // bytes of all chunks handed out so far, including cur_..end_
};

}  // namespace ipt
}  // namespace nlkit
