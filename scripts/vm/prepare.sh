#!/usr/bin/env bash
# Prepares the VM tier: tests that need kernel features this host lacks (IPVS, some ipset
# types) run inside Debian's stock kernel under qemu, with the host's own / shared read-only
# over 9p (see run.sh). This fetches that kernel and builds a tiny initramfs for it.
# Idempotent: each step says what it does and is skipped when its result is already there,
# so a rerun costs a few dpkg-query calls.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=$PWD/.vm-cache
say() { echo "nlkit vm prepare: $*"; }

if [[ ${NLKIT_VM_SKIP:-} == 1 ]]; then say "NLKIT_VM_SKIP=1: nothing to do"; exit 0; fi

# qemu for the VM, busybox-static + cpio for the initramfs, kmod for depmod/modprobe -d,
# ipvsadm because the guest runs the host's tools and IPVS tests compare against it.
PACKAGES=(qemu-system-x86 busybox-static cpio kmod ipvsadm)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then say "missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2; exit 1; fi
  say "installing Debian packages: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# The real kernel package behind the metapackage, e.g. linux-image-6.1.0-56-amd64. The generic
# -amd64 flavour is the one with 9p and ip_vs as modules (-cloud-amd64 lacks 9p).
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'; }
PKG=
# apt-cache costs half a second; its answer can only change when the package lists do.
if [[ -f $CACHE/current && $CACHE/current -nt /var/lib/apt/lists ]]; then read -r PKG _ < "$CACHE/current"; fi
[[ -n $PKG ]] || PKG=$(resolve)
if [[ -z $PKG ]]; then say "apt lists are empty: apt-get update"; apt-get update -qq; PKG=$(resolve); fi
if [[ -z $PKG ]]; then
  # Offline but prepared before: keep using the cached kernel rather than failing.
  if [[ -f $CACHE/current ]]; then say "cannot resolve linux-image-amd64; keeping $(cut -d' ' -f1 "$CACHE/current")"; exit 0; fi
  say "cannot resolve linux-image-amd64 with apt-cache (is this Debian with apt sources?)" >&2; exit 1
fi
KDIR=$CACHE/$PKG   # everything below is keyed by the kernel package, so an upgrade is a new folder

if [[ ! -f $KDIR/.extracted ]]; then
  say "downloading and unpacking $PKG into ${KDIR#"$PWD"/}"
  rm -rf "$KDIR"; mkdir -p "$KDIR/dl"
  # apt-get download writes into the current folder; its _apt sandbox warning is harmless.
  (cd "$KDIR/dl" && apt-get download -qq "$PKG" 2>&1 | grep -v 'unsandboxed' >&2 || true)
  deb=$(ls "$KDIR"/dl/*.deb 2>/dev/null) || { say "apt-get download $PKG failed" >&2; exit 1; }
  dpkg -x "$deb" "$KDIR/root"
  rm -rf "$KDIR/dl"   # 100 MB we never need again
  VER=$(ls "$KDIR/root/lib/modules")
  # modprobe -d in the guest needs modules.dep for the unpacked tree (the package ships none).
  depmod -b "$KDIR/root" "$VER"
  touch "$KDIR/.extracted"
fi
VER=$(ls "$KDIR/root/lib/modules")

# The initramfs only has to reach the shared host /: busybox, the virtio/9p modules in load
# order, and init. Rebuilt when init changes; everything after it lives in guest.sh on the share.
INITRD=$KDIR/initrd.cpio.gz
if [[ ! -f $INITRD || scripts/vm/init -nt $INITRD || scripts/vm/prepare.sh -nt $INITRD ]]; then
  say "building the initramfs for $VER"
  stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$stage/bin/busybox"
  ln -s busybox "$stage/bin/sh"
  mknod -m 600 "$stage/dev/console" c 5 1
  cp scripts/vm/init "$stage/init"; chmod 755 "$stage/init"
  # --show-depends prints "insmod FILE" lines in dependency order ("builtin X" for built-ins),
  # so init can insmod them in turn without a modprobe or modules.dep of its own.
  n=0; declare -A seen=()
  while read -r kind file _; do
    [[ $kind == insmod && -z ${seen[$file]:-} ]] || continue   # shared dependencies repeat
    seen[$file]=1
    cp "$file" "$stage/modules/$(printf %02d $n)-$(basename "$file")"; n=$((n + 1))
  done < <(modprobe -d "$KDIR/root" -S "$VER" --show-depends -a virtio_pci 9pnet_virtio 9p)
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
fi

# run.sh reads which kernel to boot from here; stale kernels from earlier versions go away.
if [[ ! -f $CACHE/current || $(cat "$CACHE/current") != "$PKG $VER" ]]; then
  for old in "$CACHE"/linux-image-*; do
    [[ $old == "$KDIR" || ! -d $old ]] || { say "removing stale ${old##*/}"; rm -rf "$old"; }
  done
  echo "$PKG $VER" > "$CACHE/current"
fi
touch "$CACHE/current"   # resolved against the current package lists
say "ready: $PKG ($VER)"
