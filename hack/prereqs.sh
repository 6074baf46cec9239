#!/usr/bin/env bash
# Installs what cairn's tests and appliance need beyond Go, with apt-get when
# missing. Under CI=true a prerequisite that cannot be installed fails the run.
set -euo pipefail

need=()
# kubectl is used by the compatibility tests; the machine image ships it.
# Debian does not package a current kubectl, so it is not installed here.
# tool:package. git and ssh-keygen sign and verify commits in gitsync's
# tests; tmux drives cairn status --watch in a terminal test;
# iptables, iptables-save and ip run the proxy's tests in a network
# namespace; containerd, runc and the CNI plugins run the node agent's
# pods for real.
for pair in git:git ssh-keygen:openssh-client tmux:tmux iptables:iptables iptables-save:iptables ip:iproute2 \
  containerd:containerd runc:runc; do
  tool=${pair%%:*} pkg=${pair#*:}
  command -v "$tool" >/dev/null 2>&1 || need+=("$pkg")
done
# The CNI plugins are not on PATH: Debian puts them in /usr/lib/cni, the
# upstream tarball in /opt/cni/bin.
if [ ! -x /usr/lib/cni/bridge ] && [ ! -x /opt/cni/bin/bridge ]; then
  need+=(containernetworking-plugins)
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "prereqs: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "prereqs: missing ${need[*]} and cannot apt-get install them" >&2
    [ "${CI:-}" = true ] && exit 1
  fi
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "prereqs: kubectl is not on PATH; the kubectl compatibility test will fail under CI=true and skip otherwise" >&2
fi
