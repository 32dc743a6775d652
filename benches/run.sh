#!/bin/sh
# The performance harness in one go: `olympus exec` vs parallel-ssh and `olympus run` vs
# ansible-core and an OpenSSH ControlMaster script, on real-sshd fleets of 20, 50 and 200
# hosts (or the sizes given as arguments). Medians of OLYMPUS_BENCH_RUNS runs (default 3).
# See docs/performance.md. The playbook benchmark's peers (ansible-core, ansible-core with
# Mitogen, pyinfra) are installed into throwaway venvs from PyPI and run up to 200 hosts
# (OLYMPUS_BENCH_NO_ANSIBLE=1 skips them all; ansible-core needs ~6 minutes a run at 200).
set -eu
cd "$(dirname "$0")/.."
if ! command -v parallel-ssh >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq pssh >/dev/null 2>&1 || echo "could not install pssh; its row is skipped" >&2
fi
for n in ${*:-20 50 200}; do
    OLYMPUS_BENCH_HOSTS=$n cargo bench --quiet --bench exec
    OLYMPUS_BENCH_HOSTS=$n cargo bench --quiet --bench playbook
done
cargo bench --quiet --bench inventory
