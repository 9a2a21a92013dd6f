package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// call is one syscall as the filter sees it (struct seccomp_data).
type call struct {
	arch uint32
	nr   uint32
	args [6]uint64
}

func (c call) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[offNr:], c.nr)
	binary.LittleEndian.PutUint32(b[offArch:], c.arch)
	for i, a := range c.args {
		binary.LittleEndian.PutUint64(b[offArgs+8*i:], a)
	}
	return b
}

// exec runs prog on c the way the kernel does, for the instructions the
// builder emits, and fails on anything the kernel would reject: a jump out of
// the program, a load out of seccomp_data, falling off the end.
func exec(prog []unix.SockFilter, c call) (uint32, error) {
	data := c.bytes()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		target := func(off uint32) (int, error) {
			t := pc + 1 + int(off)
			if t >= len(prog) {
				return 0, fmt.Errorf("instruction %d jumps to %d, past the end (%d)", pc, t, len(prog))
			}
			return t - 1, nil // the loop adds one
		}
		var cond bool
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				return 0, fmt.Errorf("instruction %d loads at offset %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
			continue
		case unix.BPF_RET | unix.BPF_K:
			return in.K, nil
		case unix.BPF_JMP | unix.BPF_JA:
			t, err := target(in.K)
			if err != nil {
				return 0, err
			}
			pc = t
			continue
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			cond = acc == in.K
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			cond = acc >= in.K
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			cond = acc > in.K
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
			continue
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			cond = acc&in.K != 0
		default:
			return 0, fmt.Errorf("instruction %d: unexpected code %#x", pc, in.Code)
		}
		off := in.Jf
		if cond {
			off = in.Jt
		}
		t, err := target(uint32(off))
		if err != nil {
			return 0, err
		}
		pc = t
	}
	return 0, errors.New("fell off the end of the program")
}

const defaultCaps = 1<<unix.CAP_CHOWN | 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_FSETID | 1<<unix.CAP_FOWNER |
	1<<unix.CAP_NET_RAW | 1<<unix.CAP_SETGID | 1<<unix.CAP_SETUID | 1<<unix.CAP_SETFCAP | 1<<unix.CAP_SETPCAP |
	1<<unix.CAP_NET_BIND_SERVICE | 1<<unix.CAP_SYS_CHROOT | 1<<unix.CAP_KILL | 1<<unix.CAP_AUDIT_WRITE

// addrNoRandomize is ADDR_NO_RANDOMIZE from <linux/personality.h>.
const addrNoRandomize = 0x0040000

func TestFilterActions(t *testing.T) {
	x86 := func(nr uint32, args ...uint64) call {
		c := call{arch: auditArchX86_64, nr: nr}
		copy(c.args[:], args)
		return c
	}
	tests := []struct {
		name string
		caps uint64
		c    call
		want uint32
	}{
		{"read", defaultCaps, x86(unix.SYS_READ), retAllow},
		{"syscall 0 is read, first of the table", defaultCaps, x86(0), retAllow},
		{"execve", defaultCaps, x86(unix.SYS_EXECVE), retAllow},
		{"chroot with CAP_SYS_CHROOT", defaultCaps, x86(unix.SYS_CHROOT), retAllow},
		{"chroot without", 0, x86(unix.SYS_CHROOT), retEPERM},
		{"mount", defaultCaps, x86(unix.SYS_MOUNT), retEPERM},
		{"mount with CAP_SYS_ADMIN", 1 << unix.CAP_SYS_ADMIN, x86(unix.SYS_MOUNT), retAllow},
		{"unshare", defaultCaps, x86(unix.SYS_UNSHARE), retEPERM},
		{"setns", defaultCaps, x86(unix.SYS_SETNS), retEPERM},
		{"init_module", defaultCaps, x86(unix.SYS_INIT_MODULE), retEPERM},
		{"finit_module with CAP_SYS_MODULE", 1 << unix.CAP_SYS_MODULE, x86(unix.SYS_FINIT_MODULE), retAllow},
		{"keyctl", defaultCaps, x86(unix.SYS_KEYCTL), retEPERM},
		{"add_key", defaultCaps, x86(unix.SYS_ADD_KEY), retEPERM},
		{"bpf", defaultCaps, x86(unix.SYS_BPF), retEPERM},
		{"bpf with CAP_BPF", 1 << unix.CAP_BPF, x86(unix.SYS_BPF), retAllow},
		{"perf_event_open", defaultCaps, x86(unix.SYS_PERF_EVENT_OPEN), retEPERM},
		{"userfaultfd", defaultCaps, x86(unix.SYS_USERFAULTFD), retEPERM},
		{"io_uring_setup", defaultCaps, x86(unix.SYS_IO_URING_SETUP), retEPERM},
		{"io_uring_enter", defaultCaps, x86(unix.SYS_IO_URING_ENTER), retEPERM},
		{"io_uring_register", defaultCaps, x86(unix.SYS_IO_URING_REGISTER), retEPERM},
		{"io_uring_setup with every capability", ^uint64(0), x86(unix.SYS_IO_URING_SETUP), retEPERM},
		{"uretprobe", defaultCaps, x86(unix.SYS_URETPROBE), retAllow},
		{"clone of a thread", defaultCaps, x86(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_THREAD|unix.CLONE_SIGHAND), retAllow},
		{"clone with CLONE_NEWUSER", defaultCaps, x86(unix.SYS_CLONE, unix.CLONE_NEWUSER), retEPERM},
		{"clone with CLONE_NEWNET", defaultCaps, x86(unix.SYS_CLONE, unix.CLONE_NEWNET|uint64(unix.SIGCHLD)), retEPERM},
		{"clone with CLONE_NEWNET and CAP_SYS_ADMIN", 1 << unix.CAP_SYS_ADMIN, x86(unix.SYS_CLONE, unix.CLONE_NEWNET), retAllow},
		{"clone3", defaultCaps, x86(unix.SYS_CLONE3), retENOSYS},
		{"clone3 with CAP_SYS_ADMIN", 1 << unix.CAP_SYS_ADMIN, x86(unix.SYS_CLONE3), retAllow},
		{"personality query", defaultCaps, x86(unix.SYS_PERSONALITY, 0xffffffff), retAllow},
		{"personality PER_LINUX32", defaultCaps, x86(unix.SYS_PERSONALITY, 8), retAllow},
		{"personality ADDR_NO_RANDOMIZE", defaultCaps, x86(unix.SYS_PERSONALITY, addrNoRandomize), retEPERM},
		{"socket AF_INET", defaultCaps, x86(unix.SYS_SOCKET, unix.AF_INET), retAllow},
		{"socket AF_PACKET", defaultCaps, x86(unix.SYS_SOCKET, unix.AF_PACKET), retAllow},
		{"socket AF_VSOCK", defaultCaps, x86(unix.SYS_SOCKET, unix.AF_VSOCK), retEPERM},
		{"the last known syscall", defaultCaps, x86(lastKnown), retAllow},
		{"fchmodat2 (glibc 2.39's fchmodat)", defaultCaps, x86(unix.SYS_FCHMODAT2), retAllow},
		{"a reviewed syscall not allowed", defaultCaps, x86(unix.SYS_KEXEC_FILE_LOAD), retEPERM},
		{"statmount, newer than the table", defaultCaps, x86(unix.SYS_STATMOUNT), retENOSYS},
		{"a syscall newer than the table", defaultCaps, x86(lastKnown + 1), retENOSYS},
		{"syscall(-1)", defaultCaps, x86(0xffffffff), retENOSYS},
		{"x32 read", defaultCaps, x86(x32Bit | unix.SYS_READ), retKill},
		{"i386 syscall 3 (read)", defaultCaps, call{arch: unix.AUDIT_ARCH_I386, nr: 3}, retKill},
		{"aarch64", defaultCaps, call{arch: unix.AUDIT_ARCH_AARCH64, nr: 63}, retKill},
	}
	for _, tt := range tests {
		prog, err := Build(Options{Caps: tt.caps})
		if err != nil {
			t.Fatal(err)
		}
		got, err := exec(prog, tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: got %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

// TestFilterEveryNumber runs the program for every syscall number and checks
// it against the plan, so every branch of the tree is taken.
func TestFilterEveryNumber(t *testing.T) {
	for _, caps := range []uint64{0, defaultCaps, 1<<(unix.CAP_LAST_CAP+1) - 1} {
		o := Options{Caps: caps}
		prog, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		spans := plan(o)
		for nr := uint32(0); nr < lastKnown+64; nr++ {
			want := spanOf(spans, nr).c.ret
			got, err := exec(prog, call{arch: auditArchX86_64, nr: nr})
			if err != nil {
				t.Fatalf("caps %#x, syscall %d: %v", caps, nr, err)
			}
			if c := spanOf(spans, nr).c; c.test {
				continue // argument checks: TestFilterActions
			}
			if got != want {
				t.Errorf("caps %#x, syscall %d: got %#x, want %#x", caps, nr, got, want)
			}
		}
	}
}

func spanOf(spans []span, nr uint32) span {
	s := spans[0]
	for _, x := range spans {
		if x.lo > nr {
			break
		}
		s = x
	}
	return s
}

// TestTreeFarJumps forces lower halves longer than a conditional jump can
// skip, so the path through the unconditional jump is exercised.
func TestTreeFarJumps(t *testing.T) {
	var spans []span
	for i := range 2000 {
		ret := uint32(retAllow)
		if i%2 == 1 {
			ret = retEPERM
		}
		spans = append(spans, span{lo: uint32(i * 3), c: check{ret: ret}})
	}
	prog, err := compile(spans)
	if err != nil {
		t.Fatal(err)
	}
	far := 0
	for _, in := range prog {
		if in.Code == unix.BPF_JMP|unix.BPF_JA {
			far++
		}
	}
	if far == 0 {
		t.Fatalf("no unconditional jump in a program of %d instructions", len(prog))
	}
	for nr := uint32(0); nr < 6010; nr++ {
		want := spanOf(spans, nr).c.ret
		got, err := exec(prog, call{arch: auditArchX86_64, nr: nr})
		if err != nil {
			t.Fatalf("syscall %d: %v", nr, err)
		}
		if got != want {
			t.Fatalf("syscall %d: got %#x, want %#x", nr, got, want)
		}
	}
}

func TestFilterTooLong(t *testing.T) {
	var spans []span
	for i := range 3000 {
		spans = append(spans, span{lo: uint32(i), c: check{ret: uint32(i)}})
	}
	if _, err := compile(spans); err == nil {
		t.Fatal("a program over 4096 instructions was accepted")
	}
}

// TestInstall loads the default filter on a throwaway thread for real and
// checks the kernel's answers; the rest of the test process is unfiltered.
func TestInstall(t *testing.T) {
	prog, err := Build(Options{Caps: defaultCaps})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		name string
		err  error
	}
	done := make(chan []answer)
	go func() {
		// Never unlocked: the filtered thread dies with this goroutine.
		runtime.LockOSThread()
		var got []answer
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- []answer{{"no_new_privs", err}}
			return
		}
		if err := Install(prog); err != nil {
			done <- []answer{{"install", err}}
			return
		}
		raw := func(name string, nr uintptr, args ...uintptr) {
			a := append(args, 0, 0, 0)
			_, _, errno := unix.RawSyscall(nr, a[0], a[1], a[2])
			var err error
			if errno != 0 {
				err = errno
			}
			got = append(got, answer{name, err})
		}
		raw("getpid", unix.SYS_GETPID)
		raw("unshare", unix.SYS_UNSHARE, unix.CLONE_NEWUTS)
		raw("clone3", unix.SYS_CLONE3)
		raw("keyctl", unix.SYS_KEYCTL, 0)
		raw("personality", unix.SYS_PERSONALITY, addrNoRandomize)
		raw("socket", unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM)
		raw("new syscall", lastKnown+1)
		done <- got
	}()
	got := <-done
	want := []answer{
		{"getpid", nil}, {"unshare", unix.EPERM}, {"clone3", unix.ENOSYS}, {"keyctl", unix.EPERM},
		{"personality", unix.EPERM}, {"socket", unix.EPERM}, {"new syscall", unix.ENOSYS},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: got %v, want %v", want[i].name, got[i].err, want[i].err)
		}
	}
	// The test's other threads are not filtered: keyctl reaches the kernel.
	if _, _, errno := unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, 0, 0); errno == unix.EPERM {
		t.Errorf("keyctl on another thread: %v, the filter leaked out of its thread", errno)
	}
}

// BenchmarkBuild is the work ccinit does for the filter before each
// container's command starts.
func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		if _, err := Build(Options{Caps: defaultCaps}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyscall is what the filter adds to each syscall the command makes:
// getppid (near the top of the tree's lowest and highest numbers alike cost
// the same depth) without and with the default filter, on a throwaway thread.
func BenchmarkSyscall(b *testing.B) {
	for _, filtered := range []bool{false, true} {
		name := "unfiltered"
		if filtered {
			name = "filtered"
		}
		b.Run(name, func(b *testing.B) {
			prog, err := Build(Options{Caps: defaultCaps})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
				if filtered {
					if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
						done <- err
						return
					}
					if err := Install(prog); err != nil {
						done <- err
						return
					}
				}
				for b.Loop() {
					unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
				}
				done <- nil
			}()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
