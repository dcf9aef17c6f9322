#!/usr/bin/env bash
# scripts/host-prep against a fake root (sysfs, proc, etc made here, given
# with --root and RC_HOST_ROOT): what --check reports and its exit status
# for a ready host and for each thing missing, that --check writes nothing,
# that preparing edits Debian's dpdk files and only prints the commands it
# would run, --help, --version and usage errors. Needs no root and changes
# nothing outside its temporary directory.
#
#   host-prep.sh [SOURCE_DIR]
set -euo pipefail
SRC=$(cd "${1:-$(dirname "$0")/..}" && pwd)
HP=$SRC/scripts/host-prep
T=$(mktemp -d "/tmp/rchostprep.XXXXXX")
trap 'rm -rf "$T"' EXIT

# shellcheck source=lib/check.sh
. "$SRC/tests/lib/check.sh"

# A host as it should be: 1024 2M pages reserved and asked for at boot,
# dpdk.service enabled, the NIC on vfio-pci and listed, workers 2-4
# isolated and tickless (the control core on CPU 1).
make_root() { # dir
	local r=$1
	mkdir -p "$r/sys/kernel/mm/hugepages/hugepages-2048kB" \
		"$r/sys/devices/system/cpu" "$r/proc" "$r/etc/dpdk" \
		"$r/etc/ringcache" "$r/etc/systemd/system/multi-user.target.wants" \
		"$r/sys/bus/pci/drivers/vfio-pci" "$r/sys/bus/pci/drivers/ixgbe" \
		"$r/sys/bus/pci/devices/0000:03:00.0" "$r/sys/kernel/iommu_groups/7"
	echo 1024 >"$r/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
	printf '# Debian dpdk.conf\n#NR_2M_PAGES=64\nNR_2M_PAGES=1024\n' >"$r/etc/dpdk/dpdk.conf"
	printf '# <bus>\t<id>\t\t<driver>\npci\t0000:03:00.0\tvfio-pci\n' >"$r/etc/dpdk/interfaces"
	ln -s /lib/systemd/system/dpdk.service \
		"$r/etc/systemd/system/multi-user.target.wants/dpdk.service"
	ln -s ../../../../bus/pci/drivers/vfio-pci "$r/sys/bus/pci/devices/0000:03:00.0/driver"
	echo 2-4 >"$r/sys/devices/system/cpu/isolated"
	echo 2-4 >"$r/sys/devices/system/cpu/nohz_full"
	echo "BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=managed_irq,2-4 nohz_full=2-4" >"$r/proc/cmdline"
	printf '[dpdk]\nworkers = 3\neal_args = -l 1-4 -a 0000:03:00.0\n' >"$r/etc/ringcache/ringcache.conf"
}

check() { # root args... -> output in $OUT, status in $ST
	ST=0
	OUT=$("$HP" --check --root "$@" 2>&1) || ST=$?
}
has() { # what pattern
	if grep -qE -- "$2" <<<"$OUT"; then pass "$1"; else fail "$1: no '$2' in:"; echo "$OUT"; fi
}

# --- a ready host --------------------------------------------------------------
make_root "$T/good"
check "$T/good" --bind 0000:03:00.0
expect "ready host: exit 0" "$ST" 0
expect "ready host: only ok lines" "$(grep -cv '^ok: ' <<<"$OUT" || true)" 0
has "hugepages counted" '^ok: hugepages: 1024 of 2M reserved$'
has "boot reservation from dpdk.conf" 'ok: hugepages at boot: /etc/dpdk/dpdk.conf NR_2M_PAGES="1024"'
has "NIC bound" '^ok: NIC 0000:03:00.0 bound to vfio-pci$'
has "NIC bound at boot" 'ok: NIC 0000:03:00.0 bound at boot'
has "workers from dpdk.eal_args, control core left out" '^ok: worker CPUs 2,3,4 isolated'
has "tickless" '^ok: worker CPUs 2,3,4 tickless'
# The same through the environment variable.
ST=0
OUT=$(RC_HOST_ROOT="$T/good" "$HP" --check --bind 0000:03:00.0 2>&1) || ST=$?
expect "RC_HOST_ROOT works as --root" "$ST" 0

# --- --check changes nothing -----------------------------------------------------
before=$(cd "$T/good" && find . -printf '%p %s %T@\n' | sort | md5sum)
make_root "$T/bad"
echo 0 >"$T/bad/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
check "$T/good" --hugepages 2048 --bind 0000:03:00.0
check "$T/bad" --hugepages 2048 --bind 0000:03:00.0
after=$(cd "$T/good" && find . -printf '%p %s %T@\n' | sort | md5sum)
expect "--check wrote nothing" "$after" "$before"

# --- each thing missing: one line, exit 1 ---------------------------------------------
check "$T/bad"
expect "no hugepages: exit 1" "$ST" 1
has "no hugepages: says so" '^missing: hugepages: 0 of 2M reserved, want 1024'
check "$T/good" --hugepages 2048
expect "fewer than asked: exit 1" "$ST" 1
has "fewer than asked" '^missing: hugepages: 1024 of 2M reserved, want 2048'
has "boot count differs" '^missing: hugepages at boot: .*want 2048'

make_root "$T/nosvc"
rm "$T/nosvc/etc/systemd/system/multi-user.target.wants/dpdk.service"
check "$T/nosvc"
expect "dpdk.service disabled: exit 1" "$ST" 1
has "dpdk.service disabled" '^missing: dpdk.service is not enabled'

make_root "$T/kernel"
rm "$T/kernel/sys/bus/pci/devices/0000:03:00.0/driver"
ln -s ../../../../bus/pci/drivers/ixgbe "$T/kernel/sys/bus/pci/devices/0000:03:00.0/driver"
sed -i '/0000:03:00.0/d' "$T/kernel/etc/dpdk/interfaces"
check "$T/kernel" --bind 0000:03:00.0
expect "NIC on the kernel driver: exit 1" "$ST" 1
has "NIC on the kernel driver" '^missing: NIC 0000:03:00.0 bound to ixgbe, want vfio-pci'
has "NIC not bound at boot" '^missing: NIC 0000:03:00.0 not in /etc/dpdk/interfaces'
check "$T/good" --bind 0000:09:00.0
has "no such NIC" '^missing: NIC 0000:09:00.0: no such PCI device'

make_root "$T/cpus"
echo 2-3 >"$T/cpus/sys/devices/system/cpu/isolated"
echo "(null)" >"$T/cpus/sys/devices/system/cpu/nohz_full"
check "$T/cpus"
expect "a worker CPU not isolated: exit 1" "$ST" 1
has "names the CPU" '^missing: worker CPUs 4 not isolated: add isolcpus=2,3,4'
has "nohz_full empty" '^missing: worker CPUs 2,3,4 not tickless'
# --eal instead of the config; --lcores lcore@cpu maps.
check "$T/cpus" --eal "--lcores 0@1,1@2,2@3 --no-pci"
expect "--lcores 0@1,1@2,2@3: CPUs 2,3 isolated" "$(grep -c '^ok: worker CPUs 2,3 isolated' <<<"$OUT")" 1
rm "$T/cpus/sys/devices/system/cpu/isolated" "$T/cpus/sys/devices/system/cpu/nohz_full"
check "$T/cpus"
has "isolcpus from /proc/cmdline (flags dropped)" '^ok: worker CPUs 2,3,4 isolated'
has "no nohz_full in the kernel: a note, not a failure" '^note: this kernel has no nohz_full'
expect "notes do not fail" "$ST" 0
check "$T/cpus" --config /etc/none.conf
has "no config: a note" '^note: CPU isolation not checked: no dpdk.eal_args'
check "$T/cpus" --eal "-c 0x1e"
has "a core mask is not guessed at" '^note: CPU isolation not checked: cannot read the lcores'

# --- preparing, on the fake root: files edited, commands printed ---------------------
make_root "$T/prep"
echo 0 >"$T/prep/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
printf '# Debian dpdk.conf\n#NR_2M_PAGES=64\n' >"$T/prep/etc/dpdk/dpdk.conf"
rm "$T/prep/sys/bus/pci/devices/0000:03:00.0/driver"
sed -i '/0000:03:00.0/d' "$T/prep/etc/dpdk/interfaces"
ST=0
OUT=$("$HP" --root "$T/prep" --hugepages 512 --bind 0000:03:00.0 2>&1) || ST=$?
expect "dpdk.conf gets the count" "$(grep -c '^NR_2M_PAGES=512$' "$T/prep/etc/dpdk/dpdk.conf")" 1
expect "dpdk.conf keeps its comments" "$(grep -c '^#NR_2M_PAGES=64$' "$T/prep/etc/dpdk/dpdk.conf")" 1
expect "interfaces lists the NIC" "$(grep -cP '^pci\t0000:03:00.0\tvfio-pci$' "$T/prep/etc/dpdk/interfaces")" 1
has "dpdk.service run, not here" '^would run: systemctl restart dpdk.service$'
has "bound with dpdk-devbind, not here" '^would run: dpdk-devbind.py --bind=vfio-pci 0000:03:00.0$'
has "the host after, reported" '^-- the host now:$'
expect "still missing after (a fake sysfs does not change): exit 1" "$ST" 1
"$HP" --root "$T/prep" --hugepages 256 --bind 0000:03:00.0 >/dev/null 2>&1 || true
expect "a second run replaces the count" "$(grep -c '^NR_2M_PAGES=' "$T/prep/etc/dpdk/dpdk.conf")" 1
expect "a second run lists the NIC once" "$(grep -c '0000:03:00.0' "$T/prep/etc/dpdk/interfaces")" 1
# No dpdk package: a sysctl.d file instead.
make_root "$T/nodpdk"
rm -r "$T/nodpdk/etc/dpdk"
"$HP" --root "$T/nodpdk" --hugepages 64 >/dev/null 2>&1 || true
expect "no dpdk package: sysctl.d" "$(cat "$T/nodpdk/etc/sysctl.d/80-ringcache-hugepages.conf")" "vm.nr_hugepages = 64"

# --- the command line -----------------------------------------------------------
ST=0; OUT=$("$HP" --help 2>&1) || ST=$?
expect "--help: exit 0" "$ST" 0
has "--help documents --check" '--check +change nothing'
ST=0; OUT=$("$HP" --version 2>&1) || ST=$?
expect "--version: exit 0" "$ST" 0
has "--version" '^host-prep \(ringcache\) [0-9]+\.[0-9]+'
for bad in "--bind" "--bind 03:00.0" "--hugepages lots" "--page-size 4M" "--driver e1000" "--frobnicate"; do
	ST=0
	# shellcheck disable=SC2086
	"$HP" --check --root "$T/good" $bad >/dev/null 2>&1 || ST=$?
	expect "usage error: $bad" "$ST" 2
done

checks_done host-prep
