package devicefilter

import (
	"encoding/hex"
	"strings"
	"testing"
)

// The expected bytes are written out by hand from linux/bpf.h: opcode,
// src<<4|dst, offset (2 bytes), immediate (4 bytes), little endian.
const prologue = "" +
	"6112000000000000" + // r2 = *(u32 *)(r1 + 0)    access_type
	"bc23000000000000" + // w3 = w2
	"54030000ffff0000" + // w3 &= 0xffff           device type
	"7402000010000000" + // w2 >>= 16               operations
	"6114040000000000" + // r4 = *(u32 *)(r1 + 4)    major
	"6115080000000000" //   r5 = *(u32 *)(r1 + 8)    minor

func TestProgramBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		want string
	}{
		{"deny everything", Policy{}, prologue +
			"b700000000000000" + // r0 = 0
			"9500000000000000"}, // exit
		{"allow everything", Policy{DefaultAllow: true}, prologue +
			"b700000001000000" + // r0 = 1
			"9500000000000000"},
		{"deny all but read and write of c 1:3", Policy{Exceptions: []Exception{{Char, 1, 3, Read | Write}}}, prologue +
			"5503050002000000" + // if r3 != 2 goto +5   char
			"5504040001000000" + // if r4 != 1 goto +4   major
			"5505030003000000" + // if r5 != 3 goto +3   minor
			"4502020001000000" + // if r2 & 1 goto +2    mknod asked: not covered
			"b700000001000000" + // r0 = 1
			"9500000000000000" + // exit
			"b700000000000000" + // r0 = 0
			"9500000000000000"},
		{"allow all but writes to block devices of minor 0", Policy{DefaultAllow: true, Exceptions: []Exception{{Block, Wildcard, 0, Write}}}, prologue +
			"5503060001000000" + // if r3 != 1 goto +6   block
			"5505050000000000" + // if r5 != 0 goto +5   minor (major is "*")
			"bc21000000000000" + // w1 = w2
			"5401000004000000" + // w1 &= 4              write
			"1501020000000000" + // if r1 == 0 goto +2   no operation shared
			"b700000000000000" + // r0 = 0
			"9500000000000000" + // exit
			"b700000001000000" + // r0 = 1
			"9500000000000000"},
		{"an allowance of every operation tests none", Policy{Exceptions: []Exception{{Char, Wildcard, Wildcard, Read | Write | Mknod}}}, prologue +
			"5503020002000000" + // if r3 != 2 goto +2
			"b700000001000000" +
			"9500000000000000" +
			"b700000000000000" +
			"9500000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hex.EncodeToString(Encode(Program(tc.p)))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", split(got), split(tc.want))
			}
		})
	}
}

// split puts one instruction on a line.
func split(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 16 {
		b.WriteString(h[i:min(i+16, len(h))] + "\n")
	}
	return b.String()
}
