{
  # System libraries come from pkg-config so that Debian/Ubuntu multiarch paths just work;
  # scripts/native-deps.cjs calls it and names the packages to install when headers are missing.
  # libnl-genl-3 (IPVS) and libip4tc/libip6tc/xtables (iptables) join the sources and
  # pkg-config lists below as their subsystems land.
  "targets": [
    {
      "target_name": "nlkit",
      "sources": [
        "native/addon.cc",
        "native/core/worker.cc",
        "native/netlink/wire.cc",
        "native/netlink/socket.cc",
        "native/netlink/jobs.cc",
        "native/netlink/batch.cc",
        "native/netlink/register.cc",
        "native/netlink/subscribe.cc",
        "native/netlink/stream.cc",
        "native/core/bench.cc",
        "native/ipset/exec.cc",
        "native/ipset/send.cc",
        "native/ipvs/genl.cc",
        "native/iptables/xt.cc",
        "native/iptables/parse.cc",
        "native/iptables/table.cc",
        "native/iptables/save.cc",
        "native/iptables/lock.cc",
        "native/iptables/restore.cc",
        "native/iptables/lines.cc",
        "native/iptables/nft.cc",
        "native/iptables/raw.cc",
        "native/iptables/compile_job.cc",
        "native/iptables/print_raw.cc",
        "native/link/rtnl.cc",
        "native/link/netns.cc",
        "native/link/sysctl.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter",
                    "<!@(node scripts/native-deps.cjs --cflags)"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["<!@(node scripts/native-deps.cjs --libs)", "-lpthread"]
    }
  ]
}
