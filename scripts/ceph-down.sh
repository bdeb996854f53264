#!/bin/bash
# Stop the daemons scripts/ceph-up.sh started (by their pid files, never by
# name), then with "purge" remove the cluster's data.
#   scripts/ceph-down.sh [BASE_DIR] [purge]
B=${1:-${OBJFS_CEPH_DIR:-/tmp/objfs-ceph}}
for n in client.rgw.a osd.0 mgr.x mon.a; do
  f=$B/run/$n.pid; [ -f "$f" ] || continue; pid=$(cat "$f")
  # A pid file from before a reboot may name someone else's process now.
  case $(cat "/proc/$pid/comm" 2>/dev/null) in ceph-*|radosgw) ;; *) rm -f "$f"; continue ;; esac
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$f"
done
if [ "${2:-}" = purge ]; then rm -rf "$B"; fi
exit 0
