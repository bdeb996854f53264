#!/usr/bin/env bash
# Install what objfs and its tests need on a Debian/Ubuntu machine, as root.
# Idempotent: every dependency is checked first, so on a prepared machine
# this runs no apt-get and no npm at all.
set -euo pipefail

root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: run as root (apt-get and FUSE mounts need it)" >&2
  exit 1
fi

# package:command pairs; a package counts as present when its command is on
# PATH or dpkg says it is installed. Libraries have no command ("-").
deps=(
  rsync:rsync
  attr:getfattr
  file:file
  git:git
  fio:fio
  bindfs:bindfs
  rclone:rclone
  fuse3:fusermount3
  libfuse3-dev:-
  pkg-config:pkg-config
  gcc:gcc
  make:make
  # The systemd unit's tests: systemd-analyze verify, and strace to check
  # the daemon's system calls against the unit's SystemCallFilter.
  systemd:systemd-analyze
  strace:strace
  # mmap.test.ts maps files as data loaders do, through Python's mmap.
  python3:python3
  # acl.test.ts sets and reads POSIX ACLs as users do (-o acl).
  acl:setfacl
  # The S3 tier's engine, a one-node Ceph RGW (scripts/ceph-up.sh; it runs
  # without a manager), and aws(1) to check objects from outside the mount.
  ceph-mon:ceph-mon
  ceph-osd:ceph-osd
  radosgw:radosgw
  ceph-common:ceph
  uuid-runtime:uuidgen
  curl:curl
  awscli:aws
  # The bench's S3 peer beside rclone (bench/targets/s3fs.ts).
  s3fs:s3fs
)
# npm is needed once, to fetch the project's own Node 24 (the npm package
# "node"); the distribution's node is used for nothing else.
command -v npm >/dev/null 2>&1 || deps+=(npm:npm)

installed () {
  dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for dep in "${deps[@]}"; do
  pkg=${dep%%:*} cmd=${dep#*:}
  if [ "$cmd" != - ] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
  installed "$pkg" && continue
  missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# /dev/fuse comes from the fuse module; containers may lack it entirely.
if [ ! -e /dev/fuse ]; then
  modprobe fuse 2>/dev/null || echo "setup-deps: warning: /dev/fuse is missing; mounts will fail" >&2
fi

# npm ci only when node_modules does not match the lockfile. npm records
# what it installed in node_modules/.package-lock.json; every package the
# lockfile requires must be there at the locked version.
cd "$root"
node24=node_modules/node/bin/node
if [ -x "$node24" ] && [ -f node_modules/.package-lock.json ] && "$node24" -e '
  const { readFileSync } = require("node:fs")
  const want = JSON.parse(readFileSync("package-lock.json", "utf8")).packages
  const have = JSON.parse(readFileSync("node_modules/.package-lock.json", "utf8")).packages
  const stale = Object.entries(want).filter(([path, p]) =>
    path.startsWith("node_modules/") && !p.optional && have[path]?.version !== p.version)
  process.exit(stale.length === 0 ? 0 : 1)
' 2>/dev/null; then
  exit 0
fi
echo "setup-deps: npm ci"
npm ci --no-audit --no-fund
