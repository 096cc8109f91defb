{
  # System libraries come from pkg-config so that Debian/Ubuntu multiarch paths just work.
  # libnl-genl-3 (IPVS) and libip4tc/libip6tc/xtables (iptables) join the sources and
  # pkg-config lists below as their subsystems land.
  "targets": [
    {
      "target_name": "nlkit",
      "sources": [
        "native/addon.cc",
        "native/common/worker.cc",
        "native/ipset/exec.cc",
        "native/ipset/send.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter",
                    "<!@(pkg-config --cflags libipset)"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["<!@(pkg-config --libs libipset)", "-lpthread"]
    }
  ]
}
