// One iptables command line (the part of an iptables-restore line after its counters) to
// what the kernel needs: iptables' own do_parse/do_command, run against libxtables and the
// host's extension plugins, without printing or exiting.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string>
#include <vector>

namespace nlkit {
namespace ipt {

class Arena;

enum : unsigned {
  CMD_NONE = 0,
  CMD_INSERT = 1 << 0,
  CMD_DELETE = 1 << 1,
  CMD_DELETE_NUM = 1 << 2,
  CMD_REPLACE = 1 << 3,
  CMD_APPEND = 1 << 4,
  CMD_LIST = 1 << 5,
  CMD_FLUSH = 1 << 6,
  CMD_ZERO = 1 << 7,
  CMD_NEW_CHAIN = 1 << 8,
  CMD_DELETE_CHAIN = 1 << 9,
  CMD_SET_POLICY = 1 << 10,
  CMD_RENAME_CHAIN = 1 << 11,
  CMD_LIST_RULES = 1 << 12,
  CMD_ZERO_NUM = 1 << 13,
  CMD_CHECK = 1 << 14,
};

// iptables-restore's tokenizer (xshared.c add_param_to_argv): whitespace separates, double
// quotes group, a backslash inside quotes escapes the next character.
// Kept between lines by the caller: no allocation per line once warmed up.
struct Tokens {
  std::string buf;                // the words, each followed by a NUL
  std::vector<uint32_t> starts;   // where each word starts in buf
  std::vector<uint32_t> offsets;  // byte offset in the line where each word starts
  size_t size() const { return starts.size(); }
  const char* word(size_t i) const { return buf.data() + starts[i]; }
  void clear() {
    buf.clear();
    starts.clear();
    offsets.clear();
  }
  void push(const char* w, uint32_t offset) {
    starts.push_back(static_cast<uint32_t>(buf.size()));
    buf.append(w);
    buf.push_back('\0');
    offsets.push_back(offset);
  }
};
// Appends the line's words to `out`; false with `error` ("Parameter too long!", ...) like
// iptables-restore. `reserved` counts the arguments iptables-restore puts before them.
bool Tokenize(const char* line, size_t len, bool newlineAtEnd, size_t reserved, Tokens* out, std::string* error);

// Whether `name` names a chain of the table being built, at this point of the text.
using IsChainFn = bool (*)(void* ctx, const char* name);

struct Command {
  unsigned command = CMD_NONE;
  std::string chain, newname, policy;
  unsigned rulenum = 0;  // as given (1-based), 0 when none
  bool counters = false;  // -c / --set-counters given
  uint64_t pcnt = 0, bcnt = 0;
  // For -A/-I/-R/-D/-C: one complete entry per source x destination address, all of the
  // same size, back to back in one buffer.
  std::string blob;
  uint32_t entrySize = 0;
  uint32_t entryCount() const { return entrySize ? static_cast<uint32_t>(blob.size() / entrySize) : 0; }
  const uint8_t* entry(size_t i) const { return reinterpret_cast<const uint8_t*>(blob.data()) + i * entrySize; }
  std::string mask;          // -D/-C: which bytes of an entry to compare
  std::string jumpto;        // -j/-g argument ("" when none)
  bool jumpIsChain = false;  // the target is a jump/goto to a chain of the table
  bool pure = false;         // the result depends only on the text (no kernel objects, no name lookups)
  int chainToken = -1;       // token indexes for messages about the chain / the target
  int targetToken = -1;
  int policyToken = -1;
  std::vector<std::string> warnings;
};

struct CompileError {
  std::string message;
  int token = -1;  // index into the tokens at fault, -1 when none
};

// What FastCompile makes of a line: an append of one entry.
struct FastRule {
  const uint8_t* entry = nullptr;  // in the arena given to FastCompile
  uint32_t size = 0;
  const char* chain = nullptr;  // words of the tokens given to FastCompile
  const char* jumpto = "";
  bool jumpIsChain = false;  // the target is a jump/goto to a chain of the table
  bool pure = false;         // see Command::pure
  int targetToken = -1;
};

// The common case without getopt: `-A CHAIN` with generic options and extension options
// spelled out exactly, each extension option handed straight to that extension's parser.
// Returns false, having changed nothing, for anything else (other commands, abbreviated or
// unknown options, host names, several addresses, errors): Compile then does the line.
bool FastCompile(int nfproto, const char* table, const Tokens& tokens, IsChainFn isChain, void* ctx, Arena* arena,
                 FastRule* out);

// Compiles tokens (program name not included) for `table` in family nfproto. The caller
// is inside XtRun(nfproto, ...).
bool Compile(int nfproto, const char* table, const Tokens& tokens, IsChainFn isChain, void* ctx, Command* out,
             CompileError* err);

}  // namespace ipt
}  // namespace nlkit
