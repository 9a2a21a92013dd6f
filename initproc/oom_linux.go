package initproc

import (
	"os"
	"strconv"
	"strings"
)

// When a container runs out of memory, the kernel's OOM killer picks the
// process with the most memory to its name, counting its oom_score_adj
// (-1000..1000) as that many thousandths of the memory it may use. ccinit is
// a Go program of several MiB, and memory the command holds in a tmpfs or a
// pipe counts for no process at all, so ccinit was often the one picked: the
// container then ends at once, the command never learns that a child of its
// own was killed, and the kernel's log blames ccinit. So ccinit makes itself
// the last choice, in one of two ways:
//
//   - With CAP_SYS_RESOURCE (in the initial user namespace, as a root
//     supervisor has it), it lowers its own oom_score_adj to -999 once the
//     command is forked. The command keeps the value ccinit had, so its
//     standing against the host's processes is what the user set for
//     ccsuper. -999, not -1000: a container whose only process left is
//     ccinit can still be ended by the kernel rather than stall.
//   - Without it (a root whose capabilities were cut, as on some CI
//     machines, or a user namespace), a process may not go below the lowest
//     value a privileged process set for it, only back up to it. So ccinit
//     raises its own value to 1000 just before the fork, which the command
//     inherits, and goes back down to where it was right after. The command
//     and everything it starts are then the kernel's first choice, in the
//     container and on the host alike, which is what Kubernetes does for
//     pods without a memory request.
//
// In the moment between the fork and the change after it, ccinit and the
// command are at one value, as they were before any of this. Both are best
// effort: a kernel without the file changes nothing.

// oomScoreAdjFile is where a process reads and sets its oom_score_adj.
const oomScoreAdjFile = "/proc/self/oom_score_adj"

// Bounds of oom_score_adj, and the value the command gets when ccinit cannot
// go below it.
const (
	oomAdjMin   = -1000
	oomAdjLast  = -999 // ccinit with CAP_SYS_RESOURCE
	oomAdjFirst = 1000 // the command, without
)

// oomBeforeFork prepares ccinit's oom_score_adj for forking the command and
// returns what to do right after the fork (see the top of this file).
func oomBeforeFork() (afterFork func()) {
	was, ok := readOOMScoreAdj()
	if !ok {
		return func() {}
	}
	// Going one below where we are is allowed only with the capability
	// (or below a floor a privileged ancestor set): try it, and go back
	// up, which never needs privilege.
	if was > oomAdjMin && writeOOMScoreAdj(was-1) {
		_ = writeOOMScoreAdj(was) // up again: allowed
		return func() { _ = writeOOMScoreAdj(oomAdjLast) }
	}
	if was >= oomAdjFirst || !writeOOMScoreAdj(oomAdjFirst) {
		return func() {}
	}
	return func() { _ = writeOOMScoreAdj(was) } // back down to our own floor: allowed
}

func readOOMScoreAdj() (int, bool) {
	b, err := os.ReadFile(oomScoreAdjFile)
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return v, err == nil
}

func writeOOMScoreAdj(v int) bool {
	return os.WriteFile(oomScoreAdjFile, []byte(strconv.Itoa(v)), 0) == nil
}
