#include "memory.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace nlkit {
namespace ipt {

namespace {
void Unmap(uint8_t* p, size_t n);
}  // namespace

Blob::~Blob() {
  if (p_) Unmap(p_, cap_);
}

namespace {
std::mutex g_poolMu;
std::vector<Blob> g_pool;  // largest last
constexpr size_t kPoolMax = 4;
}  // namespace

Blob Blob::Take() {
  std::lock_guard<std::mutex> l(g_poolMu);
  if (g_pool.empty()) return Blob();
  Blob b = std::move(g_pool.back());
  g_pool.pop_back();
  return b;
}

Blob Blob::TakeAtLeast(size_t n) {
  std::lock_guard<std::mutex> l(g_poolMu);
  for (auto it = g_pool.begin(); it != g_pool.end(); ++it) {  // smallest first
    if (it->cap_ < n) continue;
    Blob b = std::move(*it);
    g_pool.erase(it);
    return b;
  }
  return Blob();
}

void Blob::Give(Blob&& b) {
  if (!b.p_) return;
  std::lock_guard<std::mutex> l(g_poolMu);
  g_pool.push_back(std::move(b));
  std::sort(g_pool.begin(), g_pool.end(), [](const Blob& x, const Blob& y) { return x.cap_ < y.cap_; });
  if (g_pool.size() > kPoolMax) g_pool.erase(g_pool.begin());  // the smallest goes
}

namespace {
constexpr size_t kHuge = 2u << 20;

uint8_t* Map(size_t size) {
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? nullptr : static_cast<uint8_t*>(m);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Faults a fresh mapping's pages in on another thread, front to back, while the caller
// starts filling it (kernels before 5.14 refuse MADV_POPULATE_WRITE: then the caller faults
// as usual). The threads run at SCHED_IDLE, on what the compiling threads leave of the
// cores. A mapping is not unmapped while its pages are being faulted in: Unmap tells the
// thread to stop after the piece it is on, lifts it (and those queued before it) to normal
// priority where it may, and waits.
struct Faulting {
  uint64_t id;
  uint8_t* p;
  size_t n;
  bool waitable;  // a mapping of ours (not a vector's storage, which may go away meanwhile:
                  // MADV_POPULATE_WRITE then fails, or faults in someone else's pages, and
                  // changes no byte either way)
  std::shared_ptr<std::atomic<bool>> stop;
  bool started = false, boosted = false;
  pthread_t thread{};
};
std::mutex g_faultMu;
std::condition_variable g_faultCv;
std::vector<Faulting> g_faulting;
uint64_t g_faultIds = 0;
constexpr size_t kFaultPiece = 4u << 20;

void Prefault(uint8_t* p, size_t n, bool waitable = true) {
  uint64_t id;
  auto stop = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard<std::mutex> l(g_faultMu);
    id = ++g_faultIds;
    g_faulting.push_back({id, p, n, waitable, stop});
  }
  auto done = [id] {
    std::lock_guard<std::mutex> l(g_faultMu);
    g_faulting.erase(std::find_if(g_faulting.begin(), g_faulting.end(), [&](const Faulting& f) { return f.id == id; }));
    g_faultCv.notify_all();
  };
  auto run = [p, n, id, stop, done] {
    {
      std::lock_guard<std::mutex> l(g_faultMu);
      for (Faulting& f : g_faulting) {
        if (f.id != id) continue;
        f.thread = pthread_self();
        f.started = true;
        if (!f.boosted) {
          struct sched_param sp = {};
          pthread_setschedparam(f.thread, SCHED_IDLE, &sp);
        }
      }
    }
    {
      // one range at a time, in the order asked: the first is needed first
      static std::mutex lane;
      std::lock_guard<std::mutex> l(lane);
      for (size_t off = 0; off < n && !stop->load(std::memory_order_relaxed); off += kFaultPiece)
        madvise(p + off, std::min(kFaultPiece, n - off), MADV_POPULATE_WRITE);
    }
    done();
  };
  try {
    std::thread(run).detach();
  } catch (...) {
    done();  // no thread: the pages fault in as they are written
  }
}

void Unmap(uint8_t* p, size_t n) {
  std::unique_lock<std::mutex> l(g_faultMu);
  auto busy = [&] {
    for (const Faulting& f : g_faulting)
      if (f.waitable && f.p < p + n && p < f.p + f.n) return true;
    return false;
  };
  if (busy()) {
    for (Faulting& f : g_faulting) {
      if (f.waitable && f.p < p + n && p < f.p + f.n) f.stop->store(true);
      // every thread: the one on this mapping may be queued behind the others
      f.boosted = true;
      struct sched_param sp = {};
      if (f.started) pthread_setschedparam(f.thread, SCHED_OTHER, &sp);
    }
    g_faultCv.wait(l, [&] { return !busy(); });
  }
  munmap(p, n);
}
}  // namespace

void PrefaultSoon(const void* p, size_t bytes) {
  if (bytes < (1u << 20)) return;  // not worth a thread
  uintptr_t a = (reinterpret_cast<uintptr_t>(p) + 4095) & ~uintptr_t(4095);
  uintptr_t b = (reinterpret_cast<uintptr_t>(p) + bytes) & ~uintptr_t(4095);
  if (b > a) Prefault(reinterpret_cast<uint8_t*>(a), b - a, false);
}

bool Blob::Reserve(size_t n, bool prefault) {
  if (n <= cap_) return true;
  if (p_) Unmap(p_, cap_);
  p_ = nullptr;
  cap_ = 0;
  size_t want = (n + n / 8 + kHuge - 1) / kHuge * kHuge;  // some room to grow
  p_ = Map(want);
  if (!p_) return false;
  cap_ = want;
  if (prefault) Prefault(p_, n);
  return true;
}

bool Arena::Prepare(size_t n) {
  if (static_cast<size_t>(end_ - cur_) >= n) return true;
  if (!AddChunk((n + 4095) & ~size_t(4095))) return false;
  Prefault(cur_, end_ - cur_);
  return true;
}

bool Arena::AddChunk(size_t size) {
  uint8_t* m = Map(size);
  if (!m) return false;
  chunks_.emplace_back(m, size);
  cur_ = m;
  end_ = m + size;
  used_ += size;
  return true;
}

bool Arena::Grow(size_t n) {
  // Chunks double from 1 MB to 16 MB: small caches stay small, large ones take few mappings.
  // (Not in transparent huge pages: where memory is first touched, a virtual machine's for
  // one, clearing 2 MB pages on fault costs several times what 4 kB faults do.)
  size_t size = chunks_.empty() ? (1u << 20) : std::min<size_t>(chunks_.back().second * 2, 16u << 20);
  if (size < n) size = (n + 4095) & ~size_t(4095);
  return AddChunk(size);
}

void Arena::Clear() {
  for (auto& c : chunks_) Unmap(c.first, c.second);
  chunks_.clear();
  cur_ = end_ = nullptr;
  used_ = 0;
}

}  // namespace ipt
}  // namespace nlkit
