package initproc

import (
	"strings"
	"unicode/utf8"
)

// The ready pipe of an OCI create (Options.OCI.ReadyFD; drawn with the
// rest of the created state in oci_linux.go) carries one message from
// ccinit to `ccsuper create`, then EOF:
//
//	ReadyMsg                 everything but the command's start is done
//	"fail: " REASON          ccinit's setup failed, REASON on one line;
//	                         ccinit then exits (125, or 126/127 for the
//	                         command)
//	nothing (EOF)            ccinit ended without a word for ccsuper: it
//	                         failed before it had its configuration, or was
//	                         killed
//
// Why a failure goes here and not to ccinit's stderr: during a create,
// ccinit's stderr is the engine's stream for the container, which the shims
// (containerd's, conmon, Docker's) do not show at that stage; ccsuper's
// stderr and --log are what an engine reports. A pipe keeps no message
// boundaries, so the message is written whole in one write of at most
// MaxReadyMsg bytes (PIPE_BUF: atomic), and read to EOF.

// ReadyMsg is ccinit's word on the ready pipe when the container is created.
const ReadyMsg = "ready"

// failHead begins a setup failure on the ready pipe.
const failHead = "fail: "

// MaxReadyMsg bounds a message on the ready pipe: PIPE_BUF, the most one
// write(2) to a pipe delivers whole.
const MaxReadyMsg = 4096

// EncodeFailure renders reason as a failure message on the ready pipe: one
// line (a newline inside is written `\n`), cut to fit MaxReadyMsg at a
// character's boundary.
func EncodeFailure(reason string) []byte {
	line := strings.ReplaceAll(reason, "\n", `\n`)
	if max := MaxReadyMsg - len(failHead); len(line) > max {
		for max > 0 && !utf8.RuneStart(line[max]) {
			max--
		}
		line = line[:max]
	}
	return []byte(failHead + line)
}

// DecodeReady reads what ccsuper found on the ready pipe up to EOF: ready,
// or the reason of a failure ("" when ccinit gave none).
func DecodeReady(msg []byte) (ready bool, reason string) {
	s := string(msg)
	if s == ReadyMsg {
		return true, ""
	}
	if r, ok := strings.CutPrefix(s, failHead); ok {
		// Ours to print on one line, whatever came.
		return false, strings.ReplaceAll(r, "\n", `\n`)
	}
	return false, ""
}
