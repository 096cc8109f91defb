// Many messages TypeScript built, in one buffer with the end offset of each: how a batch
// crosses into native code once. The buffer stays referenced until the job is settled;
// TypeScript never reuses it.
#pragma once
#include <napi.h>
#include <errno.h>
#include <stdint.h>
#include <vector>

#include "job.h"

namespace nlkit {

struct MessageBatch {
  MessageBatch(Napi::Uint8Array data, Napi::Uint32Array ends)
      : ref(Napi::Persistent(data)),
        bytes(data.Data()),
        size(data.ByteLength()),
        ends(ends.Data(), ends.Data() + ends.ElementLength()) {}

  size_t begin(size_t i) const { return i == 0 ? 0 : ends[i - 1]; }

  // Every message lies inside the buffer and is at least minLen bytes long.
  bool Check(Failure& f, size_t minLen, const char* what = "malformed message batch") const {
    size_t start = 0;
    for (uint32_t end : ends) {
      if (end > size || end < start + minLen) {
        f.err = EINVAL;
        f.message = what;
        return false;
      }
      start = end;
    }
    return true;
  }

  Napi::Reference<Napi::Uint8Array> ref;
  uint8_t* bytes;
  size_t size;
  std::vector<uint32_t> ends;
};

}  // namespace nlkit
