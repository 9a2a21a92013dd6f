#!/bin/sh
# /init of the `make test-vm` guest (scripts/vm-image.sh puts it there). It
# runs the devicefilter package's tests and the e2e suite under the guest's
# kernel, with pure cgroup v2, and powers the guest off. The output goes to the serial console, where the
# host's test (vm/) reads it: the suite's `go test -v` lines, between
# "ccvm: suite start" and "ccvm: suite exit N".
#
# Kernel command line: ccvm.run=REGEX picks the e2e tests (-test.run).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
	echo "ccvm: $*"
	echo "ccvm: suite exit 125"
	poweroff -f
}

# Stage 1, in the initramfs: its root cannot be pivoted away from
# (pivot_root refuses the rootfs of the initramfs, and containers pivot), so
# copy everything into a tmpfs and make that the root.
if [ ! -e /.stage2 ]; then
	mount -t tmpfs -o mode=755 tmpfs /newroot || fail "mount tmpfs root"
	for f in /*; do
		case $f in /newroot | /proc | /sys | /dev) continue ;; esac
		cp -a "$f" /newroot/ || fail "copy $f"
	done
	mkdir -p /newroot/proc /newroot/sys /newroot/dev
	: >/newroot/.stage2
	exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# cgroup_no_v1=all: the unified hierarchy is the only one, where Debian,
# Fedora and every systemd of recent years mount it.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
ip link set lo up
hostname ccvm
# What a host has and containers get copies of (the e2e network tests look).
echo "127.0.0.1 localhost ccvm" >/etc/hosts
echo "nameserver 192.0.2.53" >/etc/resolv.conf

while read -r ko; do
	insmod "$ko" || fail "insmod $ko"
done </etc/modules.order

run=.
for arg in $(cat /proc/cmdline); do
	case $arg in ccvm.run=*) run=${arg#ccvm.run=} ;; esac
done

echo "ccvm: kernel $(uname -r), cgroup controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "ccvm: suite start"
# The eBPF device programs against this kernel's verifier and pure v2
# (a few seconds), then the e2e suite.
(cd /tmp && /cc/bin/devicefilter.test -test.v -test.count=1 -test.timeout=2m 2>&1)
rc_dev=$?
cd /src/e2e
# TCG runs a container start several times slower than the host: the
# suite's deadlines (only there to turn a hang into a failure) are 4 times
# longer.
CCONTAINER_E2E_BIN=/cc/bin CCONTAINER_E2E_SLOW=4 /cc/bin/e2e.test -test.v -test.count=1 -test.timeout=8m -test.run "$run" 2>&1
rc=$?
[ "$rc" -ne 0 ] || rc=$rc_dev
# What the kernel's OOM killer did, for the host's log of the run.
dmesg | grep -E 'Killed process|oom_reaper' | sed 's/^/ccvm: kernel: /'
echo "ccvm: suite exit $rc"
poweroff -f
