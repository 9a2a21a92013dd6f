package initproc

// The sync pipe between ccsuper (host) and ccinit (PID 1 of the container).
//
//	ccsuper                                    ccinit
//	-------                                    ------
//	pipe2(O_CLOEXEC) -> r, w
//	clone+exec ccinit, r as fd 3 ──────────>  mounts, pivot_root, sethostname
//	w stays only in ccsuper (CLOEXEC)          read(3) blocks
//	host-side setup with the child's PID
//	  (cgroups on v1, network namespace)
//	write(w, "go"); close(w)  ─────────────>  read returns "go": close(3), start the command
//
//	If ccsuper fails during its setup it closes w without writing and kills
//	ccinit; if ccsuper dies, the kernel closes w for it. Either way ccinit's
//	read returns EOF (0 bytes) and ccinit exits without running anything.
//	Anything other than exactly "go" is treated the same way.
//
// There is no timeout on either side. Because w is close-on-exec and lives in
// ccsuper alone, "ccsuper is gone" always shows up as EOF, and the child also
// has Pdeathsig set, so a wait can never hang on a dead peer. The pipe carries
// one message in one direction; ccinit reports its own failures on stderr and
// in its exit status, which ccsuper passes on.

// SyncGo is the only message on the sync pipe.
const SyncGo = "go"
