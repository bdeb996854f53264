#!/bin/bash
# A single-node Ceph (Debian's 16.2 packages) with the RADOS Gateway on
# 127.0.0.1: the real S3 engine the S3 tests run against. One monitor, one
# OSD on a sparse file, radosgw (beast); no manager with NO_MGR=1 (saves
# ~300 MB and RGW does not need it). Ready in about 20 s.
#
#   scripts/ceph-up.sh [BASE_DIR]     start, or do nothing if already serving
#   scripts/ceph-down.sh [BASE_DIR] [purge]
#
# Prints the endpoint and keys and writes them to BASE_DIR/env (sourceable).
# Environment: RGW_PORT (7480), AK/SK (test keys), STORE (bluestore|memstore).
set -euo pipefail
B=${1:-${OBJFS_CEPH_DIR:-/tmp/objfs-ceph}}
STORE=${STORE:-bluestore}
RGW_PORT=${RGW_PORT:-7480}
AK=${AK:-testaccesskey}
SK=${SK:-testsecretkey}
ENDPOINT=http://127.0.0.1:$RGW_PORT
T0=${EPOCHREALTIME/./}
ts() { local d=$(( ${EPOCHREALTIME/./} - T0 )); printf 'ceph-up: [%d.%01ds] %s\n' $((d/1000000)) $(((d/100000)%10)) "$*"; }

for cmd in ceph ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool uuidgen curl; do
  command -v "$cmd" >/dev/null || { echo "ceph-up: $cmd is missing (scripts/setup-deps.sh installs Ceph)" >&2; exit 3; }
done

write_env() {
  cat > "$B/env" <<ENV
S3_ENDPOINT=$ENDPOINT
AWS_ACCESS_KEY_ID=$AK
AWS_SECRET_ACCESS_KEY=$SK
AWS_REGION=us-east-1
ENV
}

alive() { [ -f "$B/run/$1.pid" ] && kill -0 "$(cat "$B/run/$1.pid")" 2>/dev/null; }

# Already serving (started by an earlier run): nothing to do.
if alive client.rgw.a && curl -sf -o /dev/null "$ENDPOINT/"; then
  write_env
  ts "already running: S3 endpoint $ENDPOINT"
  exit 0
fi
# Half-started or stale: stop what is left, start over.
"$(dirname "$(readlink -f "$0")")/ceph-down.sh" "$B" purge

mkdir -p "$B"/{mon/a,mgr/x,osd/0,run,log,rgw}
FSID=$(uuidgen)
cat > "$B/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $B/keyring.\$name
run dir = $B/run
admin socket = $B/run/\$name.asok
log file = $B/log/\$name.log
pid file = $B/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
auth allow insecure global id reclaim = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 1
ms bind ipv6 = false
[mon.a]
mon data = $B/mon/a
keyring = $B/mon/a/keyring
[mgr.x]
mgr data = $B/mgr/x
keyring = $B/mgr/x/keyring
[osd]
osd data = $B/osd/\$id
keyring = $B/osd/\$id/keyring
osd objectstore = $STORE
osd memory target = 1073741824
bluestore block create = true
bluestore block size = 21474836480
bluestore fsck on mkfs = false
bluestore fsck on mount = false
osd max object size = 1073741824
[client.rgw.a]
# tcp_nodelay: without it every LIST answer waits ~45 ms on Nagle's algorithm
# and the client's delayed ACK (48 ms against 3.5 ms, whatever MaxKeys).
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $B/rgw
keyring = $B/rgw/keyring
rgw dns name = localhost
rgw enable usage log = false
CONF
export CEPH_CONF=$B/ceph.conf

# keys and the monitor map
ceph-authtool --create-keyring "$B/mon.keyring.tmp" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$B/keyring.client.admin" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$B/mon.keyring.tmp" --import-keyring "$B/keyring.client.admin" >/dev/null
monmaptool --create --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' --fsid "$FSID" "$B/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$B/monmap" --keyring "$B/mon.keyring.tmp"
ceph-mon -i a
timeout 60 bash -c "until ceph -s >/dev/null 2>&1; do sleep 0.5; done"
ts "mon answering"

# A manager only avoids 'no active mgr' health warnings; RGW works without.
if [ "${NO_MGR:-0}" != 1 ] && command -v ceph-mgr >/dev/null; then
  ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' > "$B/mgr/x/keyring"
  ceph-mgr -i x
  ts "mgr started"
fi

OSD_UUID=$(uuidgen)
OSD_SECRET=$(ceph-authtool --gen-print-key)
ID=$(echo "{\"cephx_secret\": \"$OSD_SECRET\"}" | ceph osd new "$OSD_UUID" -i - -n client.admin)
ceph-authtool --create-keyring "$B/osd/$ID/keyring" --name "osd.$ID" --add-key "$OSD_SECRET" >/dev/null
ceph-osd -i "$ID" --mkfs --osd-uuid "$OSD_UUID" >"$B/log/osd-mkfs.log" 2>&1
ceph-osd -i "$ID"
timeout 120 bash -c "until ceph osd stat 2>/dev/null | grep -q '1 up'; do sleep 0.5; done"
ts "osd up"

ceph auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' > "$B/rgw/keyring"
radosgw -n client.rgw.a
timeout 170 bash -c "until curl -sf -o /dev/null $ENDPOINT/; do sleep 0.5; done"
radosgw-admin user create --uid=test --display-name=test --access-key="$AK" --secret="$SK" >/dev/null
# The first bucket creates the bucket index and data pools (~2 s): pay it
# here, not in the first test.
C="curl -sf -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 --user $AK:$SK -H x-amz-content-sha256:UNSIGNED-PAYLOAD"
$C -X PUT "$ENDPOINT/warmup-bucket" && $C -X PUT --data-binary x "$ENDPOINT/warmup-bucket/x" \
  && $C -X DELETE "$ENDPOINT/warmup-bucket/x" && $C -X DELETE "$ENDPOINT/warmup-bucket"
write_env
ts "ready: S3 endpoint $ENDPOINT (keys in $B/env)"
