#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, from Debian's packages, for the tests.
#
#   sudo .ci/slurm/start.sh            # installs the packages if missing, then starts everything
#   sinfo; sbatch --wrap hostname; sacct            # /etc/slurm/slurm.conf links to the config
#   sudo .ci/slurm/stop.sh
#
# Daemons (no systemd needed; each runs from its own binary with its own PID file):
#   munged (auth) -> mariadbd (accounting DB) -> slurmdbd -> slurmctld -> slurmd (one node)
# Everything lives under $UPNN_SLURM_DIR (default /tmp/upnn-slurm), which is wiped on start,
# plus a link /etc/slurm/slurm.conf -> $UPNN_SLURM_DIR/etc/slurm.conf (removed by stop.sh);
# nothing but 127.0.0.1 is contacted. The node gets this machine's CPUs and memory
# (`slurmd -C`); the only partition is `debug` (default), the only extra account is `upnn`.
# Ports: $UPNN_SLURM_PORT_BASE (default 6817) +0 slurmctld, +1 slurmd, +2 slurmdbd, +3 mariadb.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${UPNN_SLURM_DIR:-/tmp/upnn-slurm}"
BASE="${UPNN_SLURM_PORT_BASE:-6817}"
TIMEOUT="${UPNN_SLURM_TIMEOUT:-60}"   # seconds allowed for each daemon to come up
CLUSTER=upnn
NODE=upnn1
PARTITION=debug
ACCOUNT=upnn
SYS_CONF=/etc/slurm/slurm.conf  # where Debian's slurm-client looks when SLURM_CONF is unset
PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

say() { echo "[slurm/start] $((SECONDS - T0))s: $*"; }
die() {
    echo "[slurm/start] ERROR: $*" >&2
    for f in "$STATE"/log/*.log; do
        [[ -s "$f" ]] && { echo "--- tail of $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# wait_for SECONDS NAME COMMAND...: poll COMMAND every 0.2 s until it succeeds; fail at once
# when the daemon NAME has written $STATE/run/NAME.pid and that process is gone.
wait_for() {
    local limit=$1 name=$2 deadline pid
    shift 2
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${limit}s waiting for $name"
        if [[ -s "$STATE/run/$name.pid" ]]; then
            pid=$(tr -dc '0-9' <"$STATE/run/$name.pid")
            [[ -z "$pid" || -d "/proc/$pid" ]] || die "$name (PID $pid) exited"
        fi
        sleep 0.2
    done
}

T0=$SECONDS
[[ $EUID -eq 0 ]] || { echo "[slurm/start] must run as root" >&2; exit 1; }
[[ "$STATE" == /* && "$STATE" != / ]] || { echo "UPNN_SLURM_DIR must be an absolute path" >&2; exit 1; }

# --- packages ---------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || { echo "[slurm/start] apt-get not found" >&2; exit 1; }
    say "installing ${missing[*]}"
    # keep the packages' maintainer scripts from starting system-wide daemons
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 600 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    say "packages installed"
fi

# --- clean state ------------------------------------------------------------------------------
"$HERE/stop.sh" >/dev/null 2>&1 || true
rm -rf "$STATE"
mkdir -p "$STATE"/{etc,run,log,munge,mysql,ctld,spool}
chmod 755 "$STATE"
chown slurm:slurm "$STATE"/ctld
# munged, mariadbd and the slurm daemons each write their log and PID file here as their own
# user; munged accepts only root-owned, sticky world-writable directories
chmod 1777 "$STATE"/log "$STATE"/run

say "starting munged, mariadbd, slurmdbd, slurmctld, slurmd in $STATE"
# --- munge ------------------------------------------------------------------------------------
MUNGE_SOCKET="$STATE/munge/munge.socket.2"
head -c 1024 /dev/urandom >"$STATE/munge/munge.key"
chown -R munge:munge "$STATE/munge"
chmod 755 "$STATE/munge"   # clients (slurm daemons, sbatch) reach the socket inside
chmod 400 "$STATE/munge/munge.key"
# --origin: the credential's origin address without a hostname lookup
runuser -u munge -- /usr/sbin/munged \
    --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
    --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/munge/munged.seed" --origin=127.0.0.1 \
    || die "munged did not start"
wait_for "$TIMEOUT" munged bash -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'"

# --- mariadb ----------------------------------------------------------------------------------
DB_PORT=$((BASE + 3))
DB_SOCKET="$STATE/run/mariadb.sock"
DB_PASS="upnn-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
chown mysql:mysql "$STATE/mysql"
# a throw-away DB: no fsync (each slurmdbd table creation would otherwise wait on the disk)
DB_FAST=(--innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-flush-method=nosync)
mariadb-install-db --no-defaults --user=mysql --datadir="$STATE/mysql" \
    --auth-root-authentication-method=socket --skip-test-db "${DB_FAST[@]}" \
    >"$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
/usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql" \
    --socket="$DB_SOCKET" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --pid-file="$STATE/run/mariadb.pid" --log-error="$STATE/log/mariadb.log" \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=16M "${DB_FAST[@]}" \
    >/dev/null 2>&1 &
disown
wait_for "$TIMEOUT" mariadb mariadb --no-defaults --socket="$DB_SOCKET" -u root -e 'SELECT 1'
mariadb --no-defaults --socket="$DB_SOCKET" -u root <<SQL || die "could not create the slurm DB user"
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

say "mariadbd up"
# --- configs ----------------------------------------------------------------------------------
read -r CPUS BOARDS SOCKETS CORES THREADS MEM < <(
    /usr/sbin/slurmd -C 2>/dev/null | awk '
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        END { print v["CPUs"], v["Boards"], v["SocketsPerBoard"], v["CoresPerSocket"],
                    v["ThreadsPerCore"], v["RealMemory"] }')
if [[ -z "${CPUS:-}" || -z "${MEM:-}" ]]; then  # fall back on the kernel's numbers
    CPUS=$(nproc); MEM=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)
    HW="CPUs=$CPUS"
else
    HW="CPUs=$CPUS Boards=$BOARDS SocketsPerBoard=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS"
fi

cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((BASE + 2))
SlurmUser=slurm
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm "$STATE/etc/slurmdbd.conf"
chmod 600 "$STATE/etc/slurmdbd.conf"

cat >"$STATE/etc/slurm.conf" <<EOF
# written by .ci/slurm/start.sh
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$BASE
SlurmdPort=$((BASE + 1))
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((BASE + 2))
# for slurmdbd connections the munge socket comes from here, not from AuthInfo
AccountingStoragePass=$MUNGE_SOCKET
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
# keep sbatch --comment (the plugin puts the rule name and wildcards there) for sacct
AccountingStoreFlags=job_comment
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 $HW RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
chmod 644 "$STATE/etc/slurm.conf"
export SLURM_CONF="$STATE/etc/slurm.conf"
# Inside a job, snakemake-executor-plugin-slurm-jobstep drops every SLURM_* variable (SLURM_CONF
# included) before its `srun`, which then finds no config and falls back on a DNS SRV lookup.
# So the config must also be at the default path: link it there unless a real one is present.
if [[ -L "$SYS_CONF" || ! -e "$SYS_CONF" ]]; then
    mkdir -p "$(dirname "$SYS_CONF")"
    ln -sfn "$SLURM_CONF" "$SYS_CONF"
else
    die "$SYS_CONF exists and is not a link from a previous start; move it away first"
fi

# --- slurmdbd, accounts -----------------------------------------------------------------------
# slurmdbd reads slurmdbd.conf from the directory of $SLURM_CONF
/usr/sbin/slurmdbd || die "slurmdbd did not start"
wait_for "$TIMEOUT" slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
sacctmgr -i add account "$ACCOUNT" Description=upnn Organization=upnn >/dev/null \
    || die "sacctmgr add account failed"
sacctmgr -i add user root Account="$ACCOUNT" >/dev/null || die "sacctmgr add user failed"

# --- slurmctld, slurmd ------------------------------------------------------------------------
say "slurmdbd up"
/usr/sbin/slurmctld -f "$SLURM_CONF" || die "slurmctld did not start"
wait_for "$TIMEOUT" slurmctld scontrol ping
say "slurmctld up"
/usr/sbin/slurmd -f "$SLURM_CONF" -N "$NODE" || die "slurmd did not start"
wait_for "$TIMEOUT" slurmd bash -c "sinfo -h -n $NODE -o %t | grep -qx idle"
say "node $NODE idle"
wait_for "$TIMEOUT" slurmdbd sacct -n -X

say "up: node $NODE ($CPUS CPUs, $MEM MB), partition $PARTITION, account $ACCOUNT"
say "export SLURM_CONF=$SLURM_CONF"
