#include "lines.h"

#include <string.h>

#include <system_error>

#include "../model/table.h"

namespace nlkit {
namespace ipt {

LineFeed::LineFeed(std::string_view body, bool threaded, bool tokenize) : body_(body), tokenize_(tokenize) {
  if (!threaded) return;
  try {
    thread_ = std::thread([this] { Produce(); });
    threaded_ = true;
  } catch (const std::system_error&) {
    // no thread: the lines are split as they are taken
  }
}

LineFeed::~LineFeed() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

size_t LineFeed::Fill(Batch* b, size_t pos, bool tokenize) {
  b->lines.clear();
  b->tokenized.clear();
  if (tokenize && b->words.size() < kBatch) b->words.resize(kBatch);
  const char* s = body_.data();
  const size_t n = body_.size();
  std::string error;
  while (pos < n && b->lines.size() < kBatch) {
    const void* q = memchr(s + pos, '\n', n - pos);
    size_t nl = q ? static_cast<const char*>(q) - s : n;
    BodyLine l = {s + pos, nl - pos, q != nullptr, 0};
    uint8_t ok = 0;
    if (IsPlainCommand(l.p, l.len)) {
      l.hash = HashBytes(l.p, l.len);
      if (tokenize) {
        Tokens& w = b->words[b->lines.size()];
        w.clear();
        ok = Tokenize(l.p, l.len, l.hasNl, 3, &w, &error);
      }
    }
    b->lines.push_back(l);
    b->tokenized.push_back(ok);
    pos = nl + 1;
  }
  return pos;
}

void LineFeed::Produce() {
  size_t pos = 0;
  try {
    while (pos < body_.size()) {
      size_t slot;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stop_ || produced_ - consumed_ < kRing; });
        if (stop_) break;
        slot = produced_ % kRing;
      }
      pos = Fill(&ring_[slot], pos, tokenize_);
      {
        std::lock_guard<std::mutex> l(mu_);
        produced_++;
        resume_ = pos;
      }
      cv_.notify_all();
    }
  } catch (...) {
    // out of memory: the consumer goes on from the last batch handed over
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

bool LineFeed::Next(BodyLine* line, const Tokens** words) {
  for (;;) {
    if (cur_ && at_ < cur_->lines.size()) {
      *line = cur_->lines[at_];
      *words = cur_->tokenized[at_] ? &cur_->words[at_] : nullptr;
      at_++;
      return true;
    }
    if (threaded_) {
      std::unique_lock<std::mutex> l(mu_);
      if (cur_) {
        consumed_++;
        cv_.notify_all();
      }
      cur_ = nullptr;
      cv_.wait(l, [&] { return produced_ > consumed_ || done_; });
      if (produced_ > consumed_) {
        cur_ = &ring_[consumed_ % kRing];
        at_ = 0;
        continue;
      }
      threaded_ = false;  // the helper is done: whatever it did not hand over is split here
      pos_ = resume_;
    }
    if (pos_ >= body_.size()) return false;
    pos_ = Fill(&inline_, pos_, false);
    cur_ = &inline_;
    at_ = 0;
  }
}

const BodyLine* LineFeed::Peek() const {
  return cur_ && at_ < cur_->lines.size() ? &cur_->lines[at_] : nullptr;
}

}  // namespace ipt
}  // namespace nlkit
