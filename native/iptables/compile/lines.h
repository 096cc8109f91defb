// The lines of a restore body, as the compiling thread takes them one by one. A large body
// is split, hashed and (on a first restore) tokenized by a helper thread a batch ahead:
// that work depends only on the text, the compiling does not, and the helper has the other
// core meanwhile.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "parse.h"

namespace nlkit {
namespace ipt {

struct BodyLine {
  const char* p;
  size_t len;  // without the newline
  bool hasNl;
  uint64_t hash;  // of the whole line, for command lines without counters in front; else 0
};

// True for the lines hashed (and tokenized): commands without counters in front.
inline bool IsPlainCommand(const char* p, size_t len) {
  return len && p[0] != '#' && p[0] != ':' && p[0] != '[';
}

class LineFeed {
 public:
  // `body` outlives the feed. `tokenize`: also split each command into its words (with
  // three arguments reserved, as a line without counters is compiled).
  LineFeed(std::string_view body, bool threaded, bool tokenize);
  ~LineFeed();
  LineFeed(const LineFeed&) = delete;
  LineFeed& operator=(const LineFeed&) = delete;

  // The next line, and its words when the helper tokenized it (else null: the caller
  // tokenizes, and reports what the tokenizer refuses). Both stay valid until the next call.
  bool Next(BodyLine* line, const Tokens** words);
  // The line after the one Next gave, when it is already at hand (for prefetching).
  const BodyLine* Peek() const;

 private:
  static constexpr size_t kBatch = 1024;  // lines
  static constexpr size_t kRing = 4;      // batches
  struct Batch {
    std::vector<BodyLine> lines;
    std::vector<Tokens> words;
    std::vector<uint8_t> tokenized;
  };
  size_t Fill(Batch* b, size_t pos, bool tokenize);  // up to kBatch lines from pos; returns where it stopped
  void Produce();

  const std::string_view body_;
  const bool tokenize_;
  Batch ring_[kRing];
  std::mutex mu_;
  std::condition_variable cv_;
  size_t produced_ = 0, consumed_ = 0;  // batches; guarded by mu_
  bool done_ = false;                   // the helper has filled its last batch
  bool stop_ = false;                   // the consumer is gone
  size_t resume_ = 0;                   // where the helper stopped (for the consumer to go on inline)
  std::thread thread_;
  bool threaded_ = false;
  // the consumer's position
  Batch* cur_ = nullptr;
  size_t at_ = 0;
  size_t pos_ = 0;  // inline splitting: next byte of the body
  Batch inline_;
};

}  // namespace ipt
}  // namespace nlkit
