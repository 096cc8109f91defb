#!/usr/bin/env bash
# Usage: scripts/asan/run.sh [CMD ARG...]   (npm run test:asan)
# Runs CMD (default: the unit, kernel, e2e and VM test tiers, as `npm test` does) with the
# addon built under AddressSanitizer + UndefinedBehaviorSanitizer (scripts/asan/build.sh, into
# .asan/) and the sanitizer runtimes preloaded into node, which is not built with them. Exits
# non-zero when CMD fails or when any sanitizer report from a node process appears in its
# output, even one whose process's exit status nobody checked. The output is also kept in
# .asan/last-run.log. Env: NLKIT_VM_SKIP=1 skips the VM tier as usual; NLKIT_IPVS_LARGE
# (default here 5000) sizes the large IPVS test, which under emulation and ASan is slow;
# NLKIT_VM_TIMEOUT defaults to 3600 s here.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
cd "$REPO"
ADDON=$(bash scripts/asan/build.sh)
gcc -shared -fPIC -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -o .asan/canary.so scripts/asan/canary.c

# Every process the tests start inherits the preload, the system tools (ip, ipset, sh...) too,
# and their own bugs are not ours: by default ASan only logs what it finds, to
# .asan/reports/<program>.<pid>, and goes on, without leak checking. Processes named `node`
# read a per-binary options file on top (%b: the program's name) that reports on stderr, stops
# at the first error (exit status 1, as undefined behaviour does through
# -fno-sanitize-recover) and checks for leaks at exit.
OPTS=$REPO/.asan/options REPORTS=$REPO/.asan/reports
mkdir -p "$OPTS"
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
cat > "$OPTS/node.options" <<OPT
log_path=stderr
halt_on_error=1
detect_leaks=1
OPT
# detect_odr_violation=0: node's own globals are not instrumented.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=0:log_path=$REPORTS/asan:log_exe_name=1:detect_odr_violation=0:include_if_exists=$OPTS/%b.options"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Leak suppressions are LeakSanitizer's own option: ASan would refuse the file's leak: lines.
export LSAN_OPTIONS=suppressions=$REPO/scripts/asan/lsan.supp:print_suppressions=0
export NLKIT_ASAN=1 NLKIT_ADDON=$ADDON NLKIT_IPVS_LARGE=${NLKIT_IPVS_LARGE:-5000}
# The VM tier runs every kernel test under emulation; with the sanitizers that takes longer.
export NLKIT_VM_TIMEOUT=${NLKIT_VM_TIMEOUT:-3600}
export LD_PRELOAD=$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)

# The canaries: a leak, a heap overflow and signed overflow, each in a sanitized library that
# node loads the way it loads the addon, must each end node with a report.
for kind in leak overflow ub; do
  out=$(NLKIT_ASAN_CANARY=$kind node -e 'try { process.dlopen({ exports: {} }, process.argv[1]) } catch {}' .asan/canary.so 2>&1) &&
    { echo "nlkit asan: the $kind canary went unreported: the sanitizer set-up is broken" >&2; exit 1; }
  grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' <<<"$out" ||
    { echo "nlkit asan: the $kind canary failed without a sanitizer report:" >&2; echo "$out" >&2; exit 1; }
done
out=$(node -e 0 2>&1) || { echo "nlkit asan: node alone fails under the sanitizers:" >&2; echo "$out" >&2; exit 1; }
echo "nlkit asan: addon $ADDON; leak, overflow and UB canaries each reported" >&2

(($#)) || set -- node --import tsx --test test/unit/*.test.ts test/kernel/*.test.ts test/e2e/*.test.ts test/vm/*.test.ts
LOG=$REPO/.asan/last-run.log
set +e
"$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
reports=$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG" || true)
if ((reports)); then
  echo "nlkit asan: $reports sanitizer report(s) above (also in $LOG)" >&2
  ((status)) || status=1
fi
# Reports from the system tools: counted by program and kind, not held against nlkit.
for f in "$REPORTS"/*; do
  [[ -e $f ]] || break
  name=${f##*/asan.}
  echo "${name%.*}: $(grep -m1 -oE '(Address|Leak)Sanitizer: [a-z-]+' "$f")"
done | sort | uniq -c | sed 's/^ */nlkit asan: not nlkit'"'"'s, in .asan\/reports\/: /' >&2
exit "$status"
