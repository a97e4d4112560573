#!/usr/bin/env bash
# Stop the cluster that .ci/slurm/start.sh started: each daemon by its own PID file only (the
# PID must still belong to the expected binary), in reverse start order. Keeps the state dir
# (logs) unless UPNN_SLURM_CLEAN=1. Safe to run when nothing is running.
set -uo pipefail

STATE="${UPNN_SLURM_DIR:-/tmp/upnn-slurm}"
TIMEOUT="${UPNN_SLURM_TIMEOUT:-60}"

say() { echo "[slurm/stop] $*"; }

# stop NAME BINARY: TERM the PID in $STATE/run/NAME.pid if it runs BINARY, KILL after TIMEOUT.
stop() {
    local name=$1 binary pidfile="$STATE/run/$1.pid" pid exe deadline
    binary=$(readlink -f "$2")  # /usr/sbin/slurmctld is a symlink to slurmctld-wlm on Debian
    [[ -f "$pidfile" ]] || return 0
    pid=$(tr -dc '0-9' <"$pidfile")
    if [[ -z "$pid" ]]; then
        rm -f "$pidfile"
        return 0
    fi
    exe=$(readlink -f "/proc/$pid/exe" 2>/dev/null || true)
    if [[ "$exe" != "$binary" ]]; then
        say "$name: PID $pid is not $binary (${exe:-gone}); leaving it alone"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + TIMEOUT))
    while [[ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" == "$binary" ]]; do
        if ((SECONDS >= deadline)); then
            say "$name: PID $pid ignored SIGTERM for ${TIMEOUT}s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    rm -f "$pidfile"
    say "$name stopped (PID $pid)"
}

[[ -d "$STATE/run" ]] || { say "nothing to stop in $STATE"; exit 0; }
ctld_pid=$(tr -dc '0-9' 2>/dev/null <"$STATE/run/slurmctld.pid" || true)
if [[ -n "$ctld_pid" && -d "/proc/$ctld_pid" && -f "$STATE/etc/slurm.conf" ]]; then
    # jobs of this private cluster: cancel them first
    SLURM_CONF="$STATE/etc/slurm.conf" timeout 10 scancel --full --quiet \
        --user="$(id -un)" >/dev/null 2>&1 || true
fi
stop slurmd /usr/sbin/slurmd
stop slurmctld /usr/sbin/slurmctld
stop slurmdbd /usr/sbin/slurmdbd
stop mariadb /usr/sbin/mariadbd
stop munged /usr/sbin/munged
# the link start.sh made (only if it still points into this state dir)
if [[ -L /etc/slurm/slurm.conf && "$(readlink /etc/slurm/slurm.conf)" == "$STATE/etc/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
fi
if [[ "${UPNN_SLURM_CLEAN:-0}" == 1 ]]; then
    rm -rf "$STATE"
fi
exit 0
