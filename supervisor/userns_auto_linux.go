package supervisor

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// The pool --userns=auto takes ranges from, when /etc/subuid and /etc/subgid
// give none to the user autoUser: from 2^31 on, above every ID a
// distribution hands out (Debian's useradd stops at 60000 for users and
// gives subordinate ranges from 100000 up, 65536 each; 2^31 is reached after
// 32767 of them). Each container gets autoSize IDs, the 16-bit space most
// images' files live in.
const (
	autoUser  = "ccontainer"
	autoStart = 1 << 31
	autoSize  = 1 << 16
	autoSlots = 1 << 14 // up to 2^31 + 2^30, well below the invalid ID 2^32-1
)

// autoRange is one container's range: Start..Start+autoSize-1 are its
// IDs 0..autoSize-1, uids and gids alike.
type autoRange struct {
	Owner owner  `json:"owner"`
	Start uint32 `json:"start"`
}

// autoState is the state of the --userns=auto pool, StateDir/userns.json,
// changed only under its lock, as the bridges' leases are.
type autoState struct {
	Ranges []autoRange `json:"ranges"`
}

// autoPool returns where --userns=auto ranges come from: the ranges
// /etc/subuid gives the user "ccontainer" (when /etc/subgid gives it the same
// ones, so that uid and gid ranges line up), cut into autoSize pieces, or
// else the built-in pool above.
func autoPool() ([]uint32, error) {
	subu, err := readSubIDs(subuidFile, autoUser, ^uint32(0))
	if err != nil {
		return nil, err
	}
	subg, err := readSubIDs(subgidFile, autoUser, ^uint32(0))
	if err != nil {
		return nil, err
	}
	var starts []uint32
	if len(subu) > 0 && slices.Equal(subu, subg) {
		for _, r := range subu {
			for s := uint64(r.Start); s+autoSize <= uint64(r.Start)+uint64(r.Count); s += autoSize {
				starts = append(starts, uint32(s))
			}
		}
		if len(starts) == 0 {
			return nil, fmt.Errorf("--userns=auto: the ranges of %q in %s are smaller than %d IDs", autoUser, subuidFile, autoSize)
		}
		return starts, nil
	}
	for i := uint32(0); i < autoSlots; i++ {
		starts = append(starts, autoStart+i*autoSize)
	}
	return starts, nil
}

// allocAuto takes a free range of the pool for the supervisor me, first
// dropping the ranges of supervisors that are gone (their containers went
// with them: ccinit dies of its parent-death signal).
func allocAuto(me owner) (*userNS, error) {
	pool, err := autoPool()
	if err != nil {
		return nil, err
	}
	var st autoState
	l, err := lockState("userns", &st)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	used := map[uint32]bool{}
	kept := st.Ranges[:0]
	for _, r := range st.Ranges {
		if r.Owner.alive() {
			kept = append(kept, r)
			used[r.Start] = true
		}
	}
	st.Ranges = kept
	for _, s := range pool {
		if used[s] {
			continue
		}
		r := autoRange{Owner: me, Start: s}
		st.Ranges = append(st.Ranges, r)
		if err := l.save(&st); err != nil {
			return nil, err
		}
		m := []IDRange{{Inside: 0, Outside: s, Count: autoSize}}
		return &userNS{uids: m, gids: m, setgroups: true, auto: &r}, nil
	}
	return nil, fmt.Errorf("--userns=auto: all %d ranges are in use", len(pool))
}

// release gives the range of --userns=auto back. It is safe to call on nil
// and on a namespace without one.
func (u *userNS) release() error {
	if u == nil || u.auto == nil {
		return nil
	}
	if err := dropRanges(func(r autoRange) bool { return r.Owner == u.auto.Owner }); err != nil {
		return fmt.Errorf("release --userns=auto range: %w", err)
	}
	return nil
}

// reclaimAuto drops the ranges of supervisors that are gone (ccsuper
// cleanup).
func reclaimAuto() error {
	if _, err := os.Stat(stateFile("userns")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return dropRanges(func(r autoRange) bool { return !r.Owner.alive() })
}

// dropRanges removes the ranges drop picks from the pool's state, under its
// lock, and the state file with the last of them.
func dropRanges(drop func(autoRange) bool) error {
	var st autoState
	l, err := lockState("userns", &st)
	if err != nil {
		return err
	}
	defer l.unlock()
	st.Ranges = slices.DeleteFunc(st.Ranges, drop)
	if len(st.Ranges) == 0 {
		return l.remove()
	}
	return l.save(&st)
}
