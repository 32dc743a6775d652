#!/usr/bin/env bash
# Runs every check and test olympus has. Works on a fresh machine with no TTY: it installs
# OpenSSH's sshd (the tests start real sshd on loopback) when it is missing.
#   tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests run real sshd on loopback, log in as an unprivileged user and `become` root
# through sudo.
missing=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server openssh-client)
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
[ -x /usr/bin/time ] || missing+=(time)
command -v pgrep >/dev/null 2>&1 || missing+=(procps)
# The terminal tests run olympus on a pseudo-terminal with util-linux's script.
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
# get_url's test downloads with the host's curl from python3's http.server on loopback.
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The package tests build .deb files; the service tests use Debian's service/update-rc.d.
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
command -v update-rc.d >/dev/null 2>&1 || missing+=(init-system-helpers)
# unarchive's tests: archives are built with tar, bzip2 and zip and unpacked with unzip.
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v zip >/dev/null 2>&1 || missing+=(zip)
command -v bzip2 >/dev/null 2>&1 || missing+=(bzip2)
# git's tests clone a repository made on the host.
command -v git >/dev/null 2>&1 || missing+=(git)
# cron's tests edit crontabs with Debian's crontab (crond need not run).
command -v crontab >/dev/null 2>&1 || missing+=(cron)
# pip's tests make virtualenvs with python3's venv (and its bundled pip).
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)
# dnf's tests build RPM packages (rpmbuild, createrepo_c) and install them into a root of
# their own with Debian's dnf.
command -v dnf >/dev/null 2>&1 || missing+=(dnf)
command -v rpmbuild >/dev/null 2>&1 || missing+=(rpm)
command -v createrepo_c >/dev/null 2>&1 || missing+=(createrepo-c)
# systemd_service and service under a running systemd: a Debian root made with debootstrap
# and booted with systemd-nspawn (tests/common/booted.rs).
command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# The roles in roles/ run against real nginx, PostgreSQL and nftables (tests/roles_vs_ansible.rs).
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v pg_createcluster >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# heal's tests read real Prometheus, fed by a real Pushgateway (tests/common/prometheus.rs).
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
# heal's command source runs a real Nagios plugin (check_file_age) on the fleet.
[ -x /usr/lib/nagios/plugins/check_file_age ] || missing+=(monitoring-plugins-basic)
# The run report is opened in a headless browser (tests/report.rs).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# The rolling-upgrade scenario runs real HAProxy; the haproxy module talks to it with socat.
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v socat >/dev/null 2>&1 || missing+=(socat)
# `olympus man` is read back with man (tests/cli.rs).
command -v man >/dev/null 2>&1 || missing+=(man-db)
# The example heal handlers update a real BIND with nsupdate (tests/heal.rs).
command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ] || missing+=(bind9)
command -v nsupdate >/dev/null 2>&1 || missing+=(bind9-dnsutils)
# `olympus schedule`'s units are checked with systemd-analyze verify.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
  echo "run-all: installing ${missing[*]}"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo -n"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet
