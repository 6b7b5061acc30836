#!/usr/bin/env bash
# Installs the system tools the remote tests and benchmarks need: a real OpenSSH server
# (the tests run sshd on loopback), the ssh/scp clients and rsync (benchmark baselines).
# Does nothing when they are already there; installs the system packages only when running as root.
# Also the Azure CLI, in .venv-az, for the az tests.
set -euo pipefail

# The Azure CLI for the az tests (tests/azcli), in its own virtual environment: it pins its own
# SDK versions, which must not replace the project's in .venv. Pinned so the tests see one az.
AZ_CLI_VERSION="${AZ_CLI_VERSION:-2.91.0}"
AZ_VENV="$(dirname "$0")/../.venv-az"
if ! "$AZ_VENV/bin/az" version 2>/dev/null | grep -q "\"azure-cli\": \"$AZ_CLI_VERSION\""; then
  python3 -m venv "$AZ_VENV"
  "$AZ_VENV/bin/pip" install --quiet --disable-pip-version-check "azure-cli==$AZ_CLI_VERSION"
fi


missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v scp >/dev/null 2>&1 || missing+=(openssh-client)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${missing[*]}; run as root (or install them) to enable the sshd tests" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# sshd refuses to start without its privilege-separation directory.
mkdir -p /run/sshd

