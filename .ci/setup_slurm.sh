#!/usr/bin/env bash
# Single-node Slurm for CI (called by .ci/run when CI=true; never by the tests). Installs
# slurm-wlm and munge (Debian) if absent, writes a minimal slurm.conf for this host and starts
# munged, slurmctld and slurmd, each only if not already running.
#
# `.ci/setup_slurm.sh stop` undoes exactly what the start did: it stops the daemons it started,
# by the PIDs it recorded (never by name), and puts back the slurm.conf and munge key it wrote
# or replaced, so that no stopped-but-configured Slurm is left behind (with one, every
# `scontrol` call, and so every snakemake start through the Slurm executor plugin, waits ~10 s
# for the controller).
set -euo pipefail
STATE=${SLURM_CI_STATE:-/tmp/jetclass2-ci-slurm}
CONF=/etc/slurm/slurm.conf
KEY=/etc/munge/munge.key

stop() {
    [ -d "$STATE" ] || exit 0
    if [ -f "$STATE/pids" ]; then
        # slurmd first, munged last (slurm talks to it while shutting down)
        tac "$STATE/pids" | while read -r name pid; do
            [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || continue  # gone, or the PID was reused
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -KILL "$pid" 2>/dev/null || true
        done
    fi
    for f in "$CONF" "$KEY"; do
        saved="$STATE/$(basename "$f")"
        if [ -f "$saved.created" ]; then rm -f "$f"; fi
        if [ -f "$saved.orig" ]; then cp -p "$saved.orig" "$f"; fi
    done
    rm -rf "$STATE"
}

if [ "${1:-}" = "stop" ]; then
    stop
    exit 0
fi

if ! command -v slurmctld >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null
fi
mkdir -p "$STATE"
: > "$STATE/pids"

remember() {  # keep what a file was before this script writes it
    local f=$1 saved="$STATE/$(basename "$1")"
    [ -e "$saved.orig" ] || [ -e "$saved.created" ] || { if [ -f "$f" ]; then cp -p "$f" "$saved.orig"; else touch "$saved.created"; fi; }
}

started() {  # record the PID of a daemon this script started (from its PID file)
    local name=$1 pidfile=$2
    for _ in $(seq 20); do [ -s "$pidfile" ] && break; sleep 0.25; done
    if [ -s "$pidfile" ]; then echo "$name $(cat "$pidfile")" >> "$STATE/pids"; else echo "setup_slurm: $name wrote no $pidfile" >&2; fi
}

running() {  # a daemon of this name runs already (left alone, not recorded)
    pgrep -x "$1" >/dev/null
}

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge /etc/munge
chown -R munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge 2>/dev/null || true
if [ ! -s "$KEY" ]; then
    remember "$KEY"
    dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none
    chown munge:munge "$KEY" 2>/dev/null || true; chmod 400 "$KEY"
fi
remember "$CONF"
cat > "$CONF" <<CONF
ClusterName=ci
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=600
ReturnToService=2
NodeName=${host} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=main Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
if ! running munged; then
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
    started munged /run/munge/munged.pid
fi
if ! running slurmctld; then rm -f /run/slurmctld.pid; slurmctld; started slurmctld /run/slurmctld.pid; fi
if ! running slurmd; then rm -f /run/slurmd.pid; slurmd; started slurmd /run/slurmd.pid; fi
for _ in $(seq 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix"; then sinfo; exit 0; fi
    sleep 1
done
echo "setup_slurm: the node did not become idle" >&2
sinfo || true
tail -20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
