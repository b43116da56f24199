#!/usr/bin/env bash
# Builds (or reuses) a Debian sid chroot in DIR with ISC Kea 3.0 (kea-dhcp4-server
# with the lease_query hook), installs the harness's Kea configuration, starts
# kea-dhcp4 on loopback and waits until it listens on TCP and UDP 67.
# Stop it with interop/kea/stop.sh DIR.
#
# Only 127.0.0.0/8 is used: Kea listens on 127.0.0.1, the harness relays from
# 127.0.0.2.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v debootstrap >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq debootstrap >/dev/null
fi

# The Debian mirror the machine already uses.
mirror=$(grep -rhE '^[[:space:]]*(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]*/debian/?' | grep -v security | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

if [ ! -x "$dir/usr/sbin/kea-dhcp4" ]; then
    echo "building a sid chroot in $dir from $mirror" >&2
    mkdir -p "$dir"
    debootstrap --variant=minbase --include=kea-dhcp4-server,kea-admin sid "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 || {
        echo "debootstrap failed; see $dir.debootstrap.log" >&2
        exit 1
    }
fi

"$here/stop.sh" "$dir" >/dev/null 2>&1 || true
mkdir -p "$dir/etc/kea" "$dir/var/lib/kea" "$dir/run/kea" "$dir/var/log"
chmod 750 "$dir/run/kea" "$dir/var/lib/kea"
rm -f "$dir/var/lib/kea/"*.csv* "$dir/run/kea/"*
cp "$here/kea-dhcp4.json" "$dir/etc/kea/kea-dhcp4.json"

chroot "$dir" /usr/sbin/kea-dhcp4 -c /etc/kea/kea-dhcp4.json >"$dir/var/log/kea-dhcp4.log" 2>&1 &
echo $! >"$dir/kea.pid"

for _ in $(seq 1 100); do
    if ss -Hltn 'sport = :67' | grep -q 127.0.0.1 && ss -Hlun 'sport = :67' | grep -q .; then
        echo "kea-dhcp4 $(chroot "$dir" /usr/sbin/kea-dhcp4 -v) listening on 127.0.0.1:67 (pid $(cat "$dir/kea.pid"))"
        exit 0
    fi
    if ! kill -0 "$(cat "$dir/kea.pid")" 2>/dev/null; then
        echo "kea-dhcp4 exited; its log:" >&2
        tail -n 30 "$dir/var/log/kea-dhcp4.log" >&2
        exit 1
    fi
    sleep 0.2
done
echo "kea-dhcp4 did not listen on TCP and UDP 67 within 20 s; see $dir/var/log/kea-dhcp4.log" >&2
exit 1
