#!/usr/bin/env bash
# Runs every check and test olympus has. Works on a fresh machine with no TTY: it installs
# OpenSSH's sshd (the tests start real sshd on loopback) when it is missing.
#   tests/run-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
  echo "run-all: installing openssh-server (the tests run real sshd on loopback)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --quiet
