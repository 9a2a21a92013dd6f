package devicefilter

import "encoding/binary"

// The few eBPF instructions the device program needs. An instruction is 8
// bytes (struct bpf_insn in linux/bpf.h): the opcode; the destination
// register in the low 4 bits of the next byte and the source register in
// the high 4; a signed 16-bit offset (a jump's distance in instructions,
// counted from the next one; a load's byte offset); a signed 32-bit
// immediate. Multi-byte fields are in the machine's byte order: little
// endian on every architecture this project builds for.

// Register is one of eBPF's registers R0 to R10.
type Register uint8

const (
	R0 Register = iota // the return value
	R1                 // the program's argument: the context
	R2
	R3
	R4
	R5
)

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const (
	classLDX   = 0x01
	classALU   = 0x04 // 32-bit operations, the upper half zeroed
	classJMP   = 0x05 // 64-bit comparisons
	classALU64 = 0x07

	sizeW   = 0x00 // a 32-bit load
	modeMEM = 0x60

	srcK = 0x00 // the immediate is the operand
	srcX = 0x08 // the source register is

	opAND = 0x50
	opRSH = 0x70
	opMOV = 0xb0

	jmpJEQ  = 0x10
	jmpJSET = 0x40
	jmpJNE  = 0x50
	jmpEXIT = 0x90
)

// Insn is one eBPF instruction.
type Insn struct {
	Op       uint8
	Dst, Src Register
	Off      int16
	Imm      int32
}

// LoadCtx32 is dst = *(u32 *)(R1 + off): a field of the context.
func LoadCtx32(dst Register, off int16) Insn {
	return Insn{Op: classLDX | sizeW | modeMEM, Dst: dst, Src: R1, Off: off}
}

// Mov32 is dst = src, 32 bits.
func Mov32(dst, src Register) Insn { return Insn{Op: classALU | opMOV | srcX, Dst: dst, Src: src} }

// And32 is dst &= imm, 32 bits.
func And32(dst Register, imm int32) Insn {
	return Insn{Op: classALU | opAND | srcK, Dst: dst, Imm: imm}
}

// Rsh32 is dst >>= imm, 32 bits, unsigned.
func Rsh32(dst Register, imm int32) Insn {
	return Insn{Op: classALU | opRSH | srcK, Dst: dst, Imm: imm}
}

// MovImm is dst = imm, sign-extended to 64 bits.
func MovImm(dst Register, imm int32) Insn {
	return Insn{Op: classALU64 | opMOV | srcK, Dst: dst, Imm: imm}
}

// JumpNE skips off instructions if dst != imm (imm sign-extended to 64
// bits).
func JumpNE(dst Register, imm int32, off int16) Insn {
	return Insn{Op: classJMP | jmpJNE | srcK, Dst: dst, Off: off, Imm: imm}
}

// JumpEQ skips off instructions if dst == imm.
func JumpEQ(dst Register, imm int32, off int16) Insn {
	return Insn{Op: classJMP | jmpJEQ | srcK, Dst: dst, Off: off, Imm: imm}
}

// JumpSet skips off instructions if dst & imm != 0.
func JumpSet(dst Register, imm int32, off int16) Insn {
	return Insn{Op: classJMP | jmpJSET | srcK, Dst: dst, Off: off, Imm: imm}
}

// Exit returns R0.
func Exit() Insn { return Insn{Op: classJMP | jmpEXIT} }

// Encode returns the program as the kernel reads it.
func Encode(prog []Insn) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = append(b, in.Op, byte(in.Src&0xf)<<4|byte(in.Dst&0xf))
		b = binary.LittleEndian.AppendUint16(b, uint16(in.Off))
		b = binary.LittleEndian.AppendUint32(b, uint32(in.Imm))
	}
	return b
}
