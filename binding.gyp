{
  # System libraries come from pkg-config so that Debian/Ubuntu multiarch paths just work;
  # scripts/native-deps.cjs calls it and names the packages to install when headers are missing.
  # IPVS needs no library: its generic netlink messages are built in TypeScript and sent over
  # native/netlink's NETLINK_GENERIC socket.
  # NLKIT_BENCH=1 (npm run build:bench) links the boundary-cost probes of native/core/bench.cc
  # in for bench/napi.ts; without it (every other build, prebuilds included) they are absent.
  # Only the source list changes, so switching costs a compile of bench.cc and a link.
  "variables": {
    "nlkit_bench%": "<!(node -p \"process.env.NLKIT_BENCH === '1' ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "nlkit",
      "sources": [
        "native/addon.cc",
        "native/core/register.cc",
        "native/core/worker.cc",
        "native/netlink/wire.cc",
        "native/netlink/socket.cc",
        "native/netlink/jobs.cc",
        "native/netlink/batch.cc",
        "native/netlink/register.cc",
        "native/netlink/subscribe.cc",
        "native/netlink/stream.cc",
        "native/ipset/register.cc",
        "native/iptables/register.cc",
        "native/link/register.cc",
        "native/ipset/exec.cc",
        "native/ipset/send.cc",
        "native/iptables/compile/xt.cc",
        "native/iptables/compile/parse.cc",
        "native/iptables/compile/fast.cc",
        "native/iptables/compile/common.cc",
        "native/iptables/model/table.cc",
        "native/iptables/kernel/table_io.cc",
        "native/iptables/memory/memory.cc",
        "native/iptables/compile/save.cc",
        "native/iptables/kernel/lock.cc",
        "native/iptables/jobs/restore.cc",
        "native/iptables/compile/lines.cc",
        "native/iptables/jobs/backend_count.cc",
        "native/iptables/kernel/raw.cc",
        "native/iptables/jobs/raw.cc",
        "native/iptables/jobs/print_raw.cc",
        "native/iptables/jobs/compile_job.cc",
        "native/link/ifindex.cc",
        "native/link/netns.cc",
        "native/link/sysctl.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter",
                    "<!@(node scripts/native-deps.cjs --cflags)"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["nlkit_bench==1", { "sources": ["native/core/bench.cc"] }]
      ],
      "libraries": ["<!@(node scripts/native-deps.cjs --libs)", "-lpthread"]
    }
  ]
}
