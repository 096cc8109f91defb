// Compiling a restore text without the kernel (the nf_tables backend, lib/iptables/nft/): the
// tables libxtables and the table model build, laid out as IPT_SO_GET_ENTRIES returns a legacy
// table, for TypeScript to turn into nf_tables expressions. Nothing here opens a socket.
#pragma once
#include <napi.h>

#include <vector>

#include "../kernel/raw.h"
#include "../model/table.h"

namespace nlkit {
namespace ipt {

// The built-in chains of a table iptables knows (filter, nat, mangle, raw, security), as the
// legacy kernel table would have them; 0 for another name.
uint32_t ValidHooksOf(const std::string& table);

// The table's chains and rules as one entries blob (ERROR heads for user chains, policies
// and RETURNs as standard targets, jumps as offsets, each rule's counters in its entry).
// `created`: user chains in the order they were made (the text's order, which TypeScript's
// chain order then checks name by name instead of looking every name up); else by name.
void ToRawTable(Table& t, RawTable* out, bool created = false);

// { table, validHooks, numEntries, hookEntry, underflow, entries } from JavaScript (entries: a
// Buffer, or its parts in order); false when it is not one.
bool RawTableFromJs(const Napi::Object& o, int nfproto, RawTable* out);

// [{ table, validHooks, numEntries, hookEntry, underflow, entries }] for JavaScript; the
// entries are moved into the Buffers, not copied (~90 MB at 20k kube-proxy services).
Napi::Value RawTablesToJs(Napi::Env env, std::vector<RawTable>& tables);

}  // namespace ipt
}  // namespace nlkit
