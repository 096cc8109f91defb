// iptables-save's output for one table (iptables-save.c do_output, iptables.c print_rule4,
// ip6tables.c print_rule6, xshared.c save_*), without the two "#" timestamp lines. The
// extensions' own save() functions print the match and target options.
#pragma once
#include <string>
#include <vector>

#include "../model/table.h"

namespace nlkit {
namespace ipt {

// Caller is inside XtRun(family, ...) with stdout captured:
// the text goes to C's stdout. False with `error` when a rule cannot be printed.
bool PrintTable(Table& t, bool counters, std::string* error);

}  // namespace ipt
}  // namespace nlkit
