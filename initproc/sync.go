package initproc

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// The sync channel between ccsuper (host) and ccinit (PID 1 of the
// container): a SOCK_SEQPACKET socket pair, so that every message arrives
// whole or not at all, and either side's end of the socket reads EOF once the
// other side's process is gone.
//
//	ccsuper                                      ccinit
//	-------                                      ------
//	socketpair(SEQPACKET, CLOEXEC) -> s, c
//	[--overlay --keep: dup c -> c2 (layer.watch)]
//	send(s, config)  (queued in the socket;
//	  [M]: sent later, below)
//	clone+exec ccinit: c as fd 3, the extra
//	  files as 4... (supervisor/fds_linux.go),
//	  argv "ccinit --sync-fd 3"
//	  ───────────────────────────────────────>  [M: entry point, no capability yet:
//	close c                                        recvfrom(3) blocks]
//	[M: newuidmap, newgidmap at once;
//	  newuidmap done: send(s, "mapped") ─────>  [M: exec itself again, now root of its
//	  newgidmap done: send(s, config)]            user namespace with every capability]
//	                                             [J, U: entry point: setns(mount)]
//	                                             [U: entry point: setns(user), uid and
//	                                               gid 0 there, unshare the new
//	                                               namespaces; a new PID namespace:
//	                                               clone PID 1 (CLONE_PARENT)]
//	[U: read the join's pipe: PID 1's PID  <──  [U: write PID 1's PID, exit; or 0 (no
//	  (reap the first process), 0, or a           clone), go on; or errno and step on
//	  failure: reap it, fail in one line]         a failure, exit 125]
//	                                             Go runtime starts
//	                                             [M: arm the parent-death signal again]
//	                                             catch the forwarded signals
//	                                             send(3, hello)
//	                                             recv(3): config -> ParseArgs
//	                                             [J, U: CheckEntry: joined, or exit 125]
//	[A, O: send(s, the idmapped rootfs, binds,
//	  volumes by SCM_RIGHTS) ─────────────────>  [A, O: recv(3): the mounts]
//	host-side setup with the child's PID         mounts, pivot_root, sethostname
//	  (cgroups, network namespace, pasta)        [-t: new pty in its devpts; sendmsg on
//	                                               the console socket: the master]
//	poll(s, ccinit's pidfd); recv(s): hello <──  recv(3) blocks
//	[-t: recvmsg(console socket): the master;
//	  raw mode, copy both ways (tty_linux.go)]
//	wait for its own signal.Notify
//	send(s, "go"); close(s) ──────────────────>  recv returns "go": close(3), start the command
//	...                                          ...
//	[--keep, after ccinit exits: TIOCINQ(c2)
//	  says whether "go" is still unread there:
//	  a layer whose container never ran is
//	  removed, not kept]
//
//	[M] rootless with a /etc/subuid range (CCMAPFD in ccinit's environment:
//	its entry point waits and execs, cmd/ccinit/mapwait_linux_amd64.s; a
//	ccinit without one, in Go: AwaitMapping); [A] --userns=auto
//	(HostFDs); [O] an OCI config with a user namespace or a mount namespace
//	by path (HostFDs: the rootfs and the binds' sources, supervisor's
//	sendOCIMounts); [J] an OCI mount namespace by path, joined by ccinit's
//	entry point (cmd/ccinit/entry_linux_amd64.s, CCMNTNS in its
//	environment); [U] an OCI user namespace by path, joined by the entry
//	point (entry_userns_linux_amd64.s, CCUSRNS; the pipe's protocol is drawn
//	in supervisor/userns_join_linux.go); [-t] a terminal (the protocol is
//	drawn in tty_linux.go). The entry point acts only for argv[1]
//	"--sync-fd".
//
//	c2 is the overlay's second holder of ccinit's end: while ccsuper keeps
//	it, s cannot read EOF when ccinit dies, which is one more reason ccsuper
//	waits on ccinit's pidfd beside s, never on s alone.
//
//	Signals are forwarded from "go" on, and both sides catch them by then:
//	none sent once the command runs is lost (docs/pid1.md).
//
//	config is SyncVersion, a NUL, then ccinit's arguments (Options.Argv),
//	each followed by a NUL: the same arguments ccinit would take on its
//	command line, parsed by the same ParseArgs, but out of sight of the
//	container (/proc/1/cmdline inside names no host path). hello is
//	SyncVersion. A config larger than the socket's default buffer is sent
//	after raising the buffer (SO_SNDBUFFORCE): a message is never split.
//
//	EOF (or ccinit's exit, seen on its pidfd, with nothing queued) where
//	ccsuper waits for hello: the program started as ccinit ended without
//	speaking the protocol (`--init /bin/false`): ccsuper says it is
//	not a ccinit and exits 125. A hello of another version: a ccinit of
//	another build, refused the same way. ccinit sends hello before it reads
//	its configuration, so that any failure after it is ccinit's own: its
//	exit status (125) says so, and ccsuper passes it on. The why is one
//	line, on ccinit's stderr; or, in an OCI create, sent on the ready pipe
//	(not this socket, which ccinit closes at "go", before its last steps:
//	ready.go), for ccsuper to say on its own stderr and in --log, where
//	engines look.
//
//	EOF where ccinit waits for config or "go": ccsuper gave up (it kills
//	ccinit first) or died (the kernel closes s for it). ccinit then exits 125
//	without a word and without running anything. Anything other than
//	exactly "go" is treated the same way.
//
// There is no timeout on either side. s is close-on-exec and lives in
// ccsuper alone, so "ccsuper is gone" always shows up as EOF, and ccinit also
// has Pdeathsig set. ccsuper's wait for hello ends when ccinit either speaks
// or exits; a program given as --init that does neither (`--init
// /bin/sleep`) keeps ccsuper waiting until it is interrupted, as any command
// that hangs would.

// SyncVersion names the protocol: ccinit's hello, and the head of the
// config message. A ccsuper and a ccinit with different versions refuse each
// other.
const SyncVersion = "ccinit-sync-1"

// SyncGo is the last message on the sync channel: start the command.
const SyncGo = "go"

// EncodeConfig renders o as the config message (see above).
func EncodeConfig(o Options) []byte { return encodeArgs(SyncVersion, o) }

// encodeArgs renders o as a message: head, a NUL, then o.Argv, each argument
// followed by a NUL. The config message and the exec request share it.
func encodeArgs(head string, o Options) []byte {
	var b strings.Builder
	b.WriteString(head)
	b.WriteByte(0)
	for _, a := range o.Argv() {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return []byte(b.String())
}

// splitArgs reads back what encodeArgs wrote under head: the arguments, or
// false when msg is not such a message.
func splitArgs(head string, msg []byte) ([]string, bool) {
	h, rest, ok := strings.Cut(string(msg), "\x00")
	if !ok || h != head || !strings.HasSuffix(rest, "\x00") {
		return nil, false
	}
	return strings.Split(strings.TrimSuffix(rest, "\x00"), "\x00"), true
}

// errConfig means the config message was not one of ours.
var errConfig = errors.New("sync channel: malformed configuration")

// DecodeConfig parses a config message with ParseArgs. The options it
// carries may not name a sync channel themselves.
func DecodeConfig(msg []byte) (Options, error) {
	args, ok := splitArgs(SyncVersion, msg)
	switch {
	case !ok && !strings.HasPrefix(string(msg), SyncVersion+"\x00"):
		return Options{}, fmt.Errorf("%w: want version %s", errConfig, SyncVersion)
	case !ok:
		return Options{}, errConfig
	}
	o, err := ParseArgs(args, io.Discard) // no usage text: nobody reads it here
	if err != nil {
		return o, err
	}
	if o.SyncFD != 0 {
		return o, fmt.Errorf("%w: it names a sync channel", errConfig)
	}
	return o, nil
}
