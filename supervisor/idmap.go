package supervisor

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// IDRange is one line of a user namespace's uid_map or gid_map: Count IDs
// from Inside in the namespace are Outside and on in its parent.
type IDRange struct {
	Inside, Outside, Count uint32
}

func (r IDRange) String() string { return fmt.Sprintf("%d %d %d", r.Inside, r.Outside, r.Count) }

// formatMap renders ranges as the text of /proc/PID/uid_map (one line each).
func formatMap(rs []IDRange) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// subRange is one entry of /etc/subuid or /etc/subgid: Count IDs from
// Start, given to a user.
type subRange struct {
	Start, Count uint32
}

// parseSubIDs returns the ranges /etc/subuid or /etc/subgid (r) gives to
// the user called name whose ID is id, in the file's order. An entry names
// its user by name or by number (shadow-utils accepts both); comments,
// blank lines and malformed lines are skipped, as newuidmap skips them.
func parseSubIDs(r io.Reader, name string, id uint32) ([]subRange, error) {
	var out []subRange
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 {
			continue
		}
		if f[0] != name && f[0] != strconv.FormatUint(uint64(id), 10) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count-1 > 0xfffffffe {
			continue
		}
		out = append(out, subRange{uint32(start), uint32(count)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// rootlessMap is the map of a rootless container's IDs: the user's own ID
// (own) is the container's 0, and the user's subordinate ranges, sorted by
// their start, are the container's 1 and up. Sorted, not in the file's
// order: shadow-utils rewrites /etc/subuid and /etc/subgid sorted whenever
// useradd gives anyone a range, so a range added by usermod --add-subgids
// moves ahead of the user's big one, and a map in file order would give the
// container other IDs after an unrelated useradd (a volume's files would
// change owner inside). Without ranges it is the single line "0 own 1":
// every other ID inside is unmapped (the kernel shows it as the overflow
// ID, 65534, and refuses to make files owned by it).
func rootlessMap(own uint32, subs []subRange) []IDRange {
	m := []IDRange{{Inside: 0, Outside: own, Count: 1}}
	next := uint64(1)
	subs = slices.Clone(subs)
	slices.SortStableFunc(subs, func(a, b subRange) int { return cmp.Compare(a.Start, b.Start) })
	for _, s := range subs {
		// The kernel takes at most 340 lines; uid_map counts stop at 2^32-1.
		if len(m) == 340 || next+uint64(s.Count) > 1<<32-1 {
			break
		}
		m = append(m, IDRange{Inside: uint32(next), Outside: s.Start, Count: s.Count})
		next += uint64(s.Count)
	}
	return m
}

// insideIDs returns, in order and each once, the IDs inside a namespace
// with map m of those of ids (the host's) that m maps; the others it leaves
// out.
func insideIDs(ids []uint32, m []IDRange) []uint32 {
	var out []uint32
	for _, id := range ids {
		for _, r := range m {
			if id >= r.Outside && uint64(id) < uint64(r.Outside)+uint64(r.Count) {
				if in := r.Inside + (id - r.Outside); !slices.Contains(out, in) {
					out = append(out, in)
				}
				break
			}
		}
	}
	return out
}

// mapCount is how many IDs a map gives the container.
func mapCount(rs []IDRange) uint64 {
	var n uint64
	for _, r := range rs {
		n += uint64(r.Count)
	}
	return n
}

// hostID returns the ID outside that the map rs gives to id inside.
func hostID(rs []IDRange, id uint32) (uint32, bool) {
	for _, r := range rs {
		if id >= r.Inside && uint64(id) < uint64(r.Inside)+uint64(r.Count) {
			return r.Outside + (id - r.Inside), true
		}
	}
	return 0, false
}
