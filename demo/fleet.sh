#!/bin/sh
# A demo fleet on this machine, for docs/getting-started.md: four "hosts" that are loopback
# addresses (127.0.0.10 the load balancer, 127.0.0.11-13 application hosts), each reached
# over SSH by a private sshd, HAProxy in front of the application hosts, and the
# application's releases served over HTTP. Nothing is installed or changed outside DIR.
#
#   demo/fleet.sh up [DIR]     # start it (DIR: /tmp/olympus-demo); prints what to run next
#   demo/fleet.sh down [DIR]   # stop everything it started
#
# Needs: OpenSSH's sshd and ssh-keygen, haproxy, socat, python3, tar, gzip (Debian:
# openssh-server haproxy socat python3). Run as yourself: the hosts log you in with a key
# made here; as root it logs in as root.
set -eu
cmd=${1:-}
dir=${2:-/tmp/olympus-demo}
port=${OLYMPUS_DEMO_SSH_PORT:-2222}
front=${OLYMPUS_DEMO_HTTP_PORT:-8088}
app_port=${OLYMPUS_DEMO_APP_PORT:-8089}
artifacts_port=${OLYMPUS_DEMO_ARTIFACTS_PORT:-8090}
here=$(cd "$(dirname "$0")/.." && pwd)

stop() {
    for p in "$dir"/*.pid; do
        [ -f "$p" ] || continue
        kill "$(cat "$p")" 2>/dev/null || true
        rm -f "$p"
    done
    # The application processes the playbooks started.
    for p in "$dir"/hosts/*/shop/shared/app.pid; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
}

case "$cmd" in
    down)
        stop
        echo "demo fleet in $dir stopped"
        exit 0
        ;;
    up) ;;
    *)
        echo "usage: $0 up|down [DIR]" >&2
        exit 2
        ;;
esac

need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || { echo "demo: $1 is missing ($2)" >&2; exit 1; }; }
need sshd openssh-server
need ssh-keygen openssh-client
need haproxy haproxy
need socat socat
need python3 python3
sshd=$(command -v sshd || echo /usr/sbin/sshd)
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)

stop
mkdir -p "$dir/hosts" "$dir/artifacts" "$dir/inventory/group_vars"
chmod 755 "$dir"
user=$(id -un)
[ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C demo-host -f "$dir/host_key"
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C demo-user -f "$dir/id_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd

# sshd: one process listening on every demo address.
{
    for a in 10 11 12 13; do echo "ListenAddress 127.0.0.$a:$port"; done
    cat <<EOF
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
MaxStartups 100:30:200
AllowUsers $user
EOF
} > "$dir/sshd_config"
"$sshd" -f "$dir/sshd_config" -E "$dir/sshd.log"
: > "$dir/known_hosts"
for a in 10 11 12 13; do
    printf '[127.0.0.%s]:%s %s\n' "$a" "$port" "$(cut -d' ' -f1-2 "$dir/host_key.pub")" >> "$dir/known_hosts"
done

# The application's releases: 1.0 and 2.0 answer their version on /health; 3.0 is broken.
for v in 1.0 2.0 3.0; do
    b="$dir/build/shop-$v"
    mkdir -p "$b/public"
    printf '%s\n' "$v" > "$b/VERSION"
    printf '#!/bin/sh\nexec python3 -m http.server "$APP_PORT" --bind "$APP_BIND" --directory public\n' > "$b/run"
    chmod 755 "$b/run"
    if [ "$v" = 3.0 ]; then echo 2.9-rc1; else echo "$v"; fi > "$b/public/health"
    printf '<h1>shop %s</h1>\n' "$v" > "$b/public/index.html"
    (cd "$dir/build" && tar -cf - "shop-$v" | gzip -n > "$dir/artifacts/shop-$v.tar.gz")
done
(cd "$dir/artifacts" && setsid python3 -m http.server "$artifacts_port" --bind 127.0.0.1 >/dev/null 2>&1 &
 echo $! > "$dir/artifacts.pid")

# HAProxy in front of the three application hosts, its admin socket for the playbook.
cat > "$dir/haproxy.cfg" <<EOF
global
  stats socket $dir/haproxy.sock mode 600 level admin
  pidfile $dir/haproxy.pid
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  retries 2
  option redispatch
frontend shop
  bind 127.0.0.1:$front
  default_backend app
backend app
  option httpchk GET /health
  server web1 127.0.0.11:$app_port check inter 500ms fall 2 rise 1
  server web2 127.0.0.12:$app_port check inter 500ms fall 2 rise 1
  server web3 127.0.0.13:$app_port check inter 500ms fall 2 rise 1
EOF
"$haproxy" -D -f "$dir/haproxy.cfg"

# The inventory and the roles' settings.
cat > "$dir/inventory/hosts.ini" <<EOF
[lb]
lb1 ansible_host=127.0.0.10

[web]
web1 ansible_host=127.0.0.11
web2 ansible_host=127.0.0.12
web3 ansible_host=127.0.0.13

[all:vars]
ansible_port=$port
ansible_user=$user
ansible_ssh_private_key_file=$dir/id_ed25519
EOF
{
    cat <<EOF
app_name: shop
app_user: $user
app_root: "$dir/hosts/{{ inventory_hostname }}/shop"
app_bind: "{{ ansible_host }}"
app_port: $app_port
app_health_timeout: 5
app_artifact_url: "http://127.0.0.1:$artifacts_port/shop-{{ app_version }}.tar.gz"
app_artifact_checksum: "{{ app_checksums[app_version] }}"
lb_member_socket: $dir/haproxy.sock
lb_member_wait_interval: 1
lb_member_wait_retries: 30
app_checksums:
EOF
    for v in 1.0 2.0 3.0; do
        printf '  "%s": "sha256:%s"\n' "$v" "$(sha256sum "$dir/artifacts/shop-$v.tar.gz" | cut -d' ' -f1)"
    done
} > "$dir/inventory/group_vars/all.yml"

# Wait until every address answers SSH.
i=0
until python3 -c "import socket
for a in (10, 11, 12, 13): socket.create_connection(('127.0.0.%d' % a, $port), 1).close()" 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then echo "demo: sshd is not answering; see $dir/sshd.log" >&2; exit 1; fi
    sleep 0.1
done

cat <<EOF
demo fleet up in $dir: lb1 (127.0.0.10) and web1-3 (127.0.0.11-13), SSH on port $port;
HAProxy on http://127.0.0.1:$front/ (its servers are DOWN until the application runs).

  olympus exec all -i $dir/inventory --known-hosts $dir/known_hosts -- uptime
  olympus run $here/playbooks/rolling-upgrade.yml -i $dir/inventory --known-hosts $dir/known_hosts \\
      --roles-path $here/roles -e app_version=1.0
  curl -s http://127.0.0.1:$front/          # shop 1.0, through HAProxy
  # then -e app_version=2.0 (a rolling upgrade), -e app_version=3.0 (a broken release)
  $0 down $dir
EOF
