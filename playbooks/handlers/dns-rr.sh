#!/bin/sh
# Takes a host out of a DNS round-robin name (or puts it back) with nsupdate (RFC 2136
# dynamic update, signed with a TSIG key): a heal action or a --notify-exec handler.
#
#   action: {exec: [handlers/dns-rr.sh, remove]}      # in a heal rule
#   olympus heal rules.yml --once --notify-exec handlers/dns-rr.sh   # on `action` events
#
# The host's address comes from the event (OLYMPUS_ADDRESS: its ansible_host). As a
# --notify-exec handler it removes the host when an action on it failed and does nothing
# otherwise. Settings, from the environment:
#   DNS_SERVER    the primary server (default 127.0.0.1)
#   DNS_PORT      its port (default 53)
#   DNS_ZONE      the zone (example.com)
#   DNS_NAME      the round-robin name (www.example.com)
#   DNS_KEY_FILE  the TSIG key file (tsig-keygen's output)
#   DNS_TTL       the TTL of an added record (default 60)
set -eu
what=${1:-}
if [ -z "$what" ]; then
    # As a notification: only a failed action takes the host out.
    case "${OLYMPUS_EVENT:-}:${OLYMPUS_OUTCOME:-}" in
        action:failed|action:unreachable|action:error) what=remove ;;
        *) exit 0 ;;
    esac
fi
addr=${OLYMPUS_ADDRESS:?the event has no address (run by olympus heal)}
: "${DNS_ZONE:?set DNS_ZONE}" "${DNS_NAME:?set DNS_NAME}" "${DNS_KEY_FILE:?set DNS_KEY_FILE}"
case "$addr" in
    *[!0-9.]*) echo "dns-rr: $addr is not an IPv4 address" >&2; exit 2 ;;
esac
case "$what" in
    remove) change="update delete $DNS_NAME. A $addr" ;;
    add) change="update add $DNS_NAME. ${DNS_TTL:-60} A $addr" ;;
    *) echo "usage: $0 [remove|add]" >&2; exit 2 ;;
esac
nsupdate -k "$DNS_KEY_FILE" <<EOF
server ${DNS_SERVER:-127.0.0.1} ${DNS_PORT:-53}
zone $DNS_ZONE.
$change
send
EOF
echo "$what $addr (${OLYMPUS_HOST:-}) in $DNS_NAME"
