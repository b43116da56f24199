#!/usr/bin/env bash
# Builds (or reuses) a Debian sid chroot in DIR with ISC Kea 3.0 (kea-dhcp4-server
# with the lease_query hook), installs the harness's Kea configuration, starts
# kea-dhcp4 on loopback and waits until it listens on TCP and UDP 67.
# Stop it with interop/kea/stop.sh DIR.
#
# With N, the lease file starts with N leases in 10.0.0.0/8 (from 10.0.0.1 up)
# whose relay-agent-info carries relay-id "alq-bench": the stream
# `alq-harness bench --kea 127.0.0.1:67` asks for with one bulk query.
#
# Only 127.0.0.0/8 is used: Kea listens on 127.0.0.1, the harness relays from
# 127.0.0.2.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [LEASES]" >&2
    exit 2
fi
leases=${2:-0}
case $leases in
    '' | *[!0-9]*)
        echo "LEASES must be a number, not '$leases'" >&2
        exit 2
        ;;
esac
if [ "$leases" -gt 16777214 ]; then
    echo "LEASES must fit 10.0.0.0/8: at most 16777214" >&2
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
if [ "$leases" -gt 0 ]; then
    # relay-id "alq-bench" as hex, and option 82 holding it as sub-option 12.
    awk -v n="$leases" -v now="$(date +%s)" 'BEGIN {
        life = 31536000
        print "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id"
        for (i = 1; i <= n; i++) {
            a = int(i / 65536) % 256; b = int(i / 256) % 256; c = i % 256
            d = int(i / 16777216) % 256
            printf "10.%d.%d.%d,02:00:%02x:%02x:%02x:%02x,,%d,%d,3,0,0,,0,", a, b, c, d, a, b, c, life, now + life - 60
            printf "{ \"ISC\": { \"relay-agent-info\": { \"relay-id\": \"616C712D62656E6368\"&#x2c \"sub-options\": \"0x0C09616C712D62656E6368\" } } },0\n"
        }
    }' >"$dir/var/lib/kea/harness-leases.csv"
fi

chroot "$dir" /usr/sbin/kea-dhcp4 -c /etc/kea/kea-dhcp4.json >"$dir/var/log/kea-dhcp4.log" 2>&1 &
echo $! >"$dir/kea.pid"

# Loading a large lease file takes a while: allow 1 s per 10,000 leases more.
for _ in $(seq 1 $((100 + leases / 2000))); do
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
echo "kea-dhcp4 did not listen on TCP and UDP 67 in time; see $dir/var/log/kea-dhcp4.log" >&2
exit 1
