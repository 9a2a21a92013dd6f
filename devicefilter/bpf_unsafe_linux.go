package devicefilter

// The raw bpf(2) calls, each with its part of union bpf_attr (linux/bpf.h)
// as a struct of its own. Pointer fields are unsafe.Pointer, not uintptr,
// so that the garbage collector keeps what they point to for the call;
// they are 8 bytes where the kernel has __aligned_u64, which holds on
// 64-bit Linux only (see the check below). A smaller attr than the
// kernel's own is fine: it zeroes the rest.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Compiling this on a 32-bit architecture fails here: the attrs below
// would not have the kernel's layout.
var _ [unsafe.Sizeof(uintptr(0)) - 8]byte

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	for try := 1; ; try++ {
		r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
		// The verifier gives up with EAGAIN when a signal is pending, and
		// Go's runtime signals its threads to preempt goroutines.
		if (errno == unix.EINTR || errno == unix.EAGAIN) && try < 10 {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              unsafe.Pointer
	license            unsafe.Pointer
	logLevel           uint32
	logSize            uint32
	logBuf             unsafe.Pointer
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// license is the program's: the kernel reads it only to decide whether
// the program may call GPL-only helpers, and this one calls none.
var license = []byte("MIT\x00")

// verifierLogSize bounds the verifier's log of a refused program; a
// device program of a few hundred instructions logs far less.
const verifierLogSize = 1 << 20

// loadProgram loads prog as a cgroup device program called name and
// returns its descriptor. It is loaded without a log first (the log costs
// the verifier time); if refused, loaded again with one, whose text is put
// in the error.
func loadProgram(prog []byte, name string) (int, error) {
	if len(prog) == 0 || len(prog)%8 != 0 {
		return -1, fmt.Errorf("load device program: %d bytes is no program", len(prog))
	}
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(prog) / 8),
		insns:    unsafe.Pointer(&prog[0]),
		license:  unsafe.Pointer(&license[0]),
	}
	copy(attr.progName[:unix.BPF_OBJ_NAME_LEN-1], name)
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.EPERM) {
		// Not the verifier's refusal: no CAP_BPF or CAP_SYS_ADMIN.
		return -1, fmt.Errorf("load device program: %w", err)
	}
	log := make([]byte, verifierLogSize)
	attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), unsafe.Pointer(&log[0])
	fd, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err2 == nil {
		// Refused without a log, accepted with one: say the first.
		_ = unix.Close(fd)
	}
	if i := bytes.IndexByte(log, 0); i >= 0 {
		log = log[:i]
	}
	lines := strings.Split(string(bytes.TrimSpace(log)), "\n")
	if lines[0] == "" {
		return -1, fmt.Errorf("load device program: %w (no verifier log: is this kernel built without CONFIG_CGROUP_BPF?)", err)
	}
	// The reason is at the end; a long log's start is the program again.
	return -1, fmt.Errorf("load device program: the verifier refused it: %w\n%s", err, strings.Join(lines[max(0, len(lines)-verifierLogLines):], "\n"))
}

// verifierLogLines is how much of a refused program's log an error keeps.
const verifierLogLines = 30

type attachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

// attachProgram attaches the device program prog to the cgroup directory
// cgroup, beside any other program attached there (BPF_F_ALLOW_MULTI: the
// kernel runs them all, and the access is allowed only if every one
// allows it).
func attachProgram(cgroup, prog int) error {
	attr := attachAttr{targetFD: uint32(cgroup), attachBPFFD: uint32(prog),
		attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// detachProgram detaches the device program prog from the cgroup
// directory cgroup.
func detachProgram(cgroup, prog int) error {
	attr := attachAttr{targetFD: uint32(cgroup), attachBPFFD: uint32(prog), attachType: unix.BPF_CGROUP_DEVICE}
	_, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

type queryAttr struct {
	targetFD    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     unsafe.Pointer
	progCnt     uint32
	_           uint32
}

// maxPrograms is how many programs of one type a cgroup takes
// (BPF_CGROUP_MAX_PROGS).
const maxPrograms = 64

// attachedPrograms returns the IDs of the device programs attached to the
// cgroup directory cgroup itself (not those its ancestors run).
func attachedPrograms(cgroup int) ([]uint32, error) {
	ids := make([]uint32, maxPrograms)
	attr := queryAttr{targetFD: uint32(cgroup), attachType: unix.BPF_CGROUP_DEVICE,
		progIDs: unsafe.Pointer(&ids[0]), progCnt: uint32(len(ids))}
	if _, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return nil, err
	}
	return ids[:min(attr.progCnt, uint32(len(ids)))], nil
}

type getByIDAttr struct {
	id, nextID, openFlags uint32
}

// programByID opens the program with ID id.
func programByID(id uint32) (int, error) {
	attr := getByIDAttr{id: id}
	return bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

type infoAttr struct {
	fd, infoLen uint32
	info        unsafe.Pointer
}

// progInfo is the start of struct bpf_prog_info, up to the name. The
// kernel fills what fits of the length given.
type progInfo struct {
	typ             uint32
	id              uint32
	tag             [8]byte
	jitedProgLen    uint32
	xlatedProgLen   uint32
	jitedProgInsns  uint64
	xlatedProgInsns uint64
	loadTime        uint64
	createdByUID    uint32
	nrMapIDs        uint32
	mapIDs          uint64
	name            [unix.BPF_OBJ_NAME_LEN]byte
}

// programInfo returns the ID and the name of the program prog.
func programInfo(prog int) (id uint32, name string, err error) {
	var info progInfo
	attr := infoAttr{fd: uint32(prog), infoLen: uint32(unsafe.Sizeof(info)), info: unsafe.Pointer(&info)}
	if _, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return 0, "", err
	}
	n, _, _ := bytes.Cut(info.name[:], []byte{0})
	return info.id, string(n), nil
}
