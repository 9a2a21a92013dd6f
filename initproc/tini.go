package initproc

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ccinit installed or invoked as tini or docker-init (Docker's name for the
// tini it ships) takes tini's command line instead of its own: images and
// runtimes start their init by path (`docker run --init-path`,
// `ENTRYPOINT ["/tini", "--"]`, `podman --init-path`) with tini's flags. The
// two command lines share letters that mean different things (`-e` is an
// exit code to remap for tini, an environment entry for ccinit), so the
// name ccinit was started under, argv[0]'s base name, is what tells them
// apart, never the shape of an argument.

// TiniNames are the base names of argv[0] under which ccinit takes tini's
// command line.
var TiniNames = []string{"tini", "docker-init"}

// IsTiniName reports whether argv0 is one of TiniNames.
func IsTiniName(argv0 string) bool {
	base := filepath.Base(argv0)
	for _, n := range TiniNames {
		if base == n {
			return true
		}
	}
	return false
}

// TiniVersion is the tini release whose command line and behaviour ccinit
// follows under TiniNames; `--version` reports it in tini's format, which
// Docker parses for `docker info`.
const TiniVersion = "0.19.0"

// TiniDefaultVerbosity is tini's verbosity when neither -v nor
// TINI_VERBOSITY says otherwise: warnings only.
const TiniDefaultVerbosity = 1

// Errors ParseTiniArgs returns for the flags that print something and exit
// 0 instead of running a command.
var (
	ErrTiniHelp    = errors.New("tini: help")
	ErrTiniLicense = errors.New("tini: license")
	ErrTiniVersion = errors.New("tini: version")
)

// TiniOptions is tini's command line and environment, parsed.
type TiniOptions struct {
	// Subreaper (-s, TINI_SUBREAPER) registers as a child subreaper.
	Subreaper bool
	// PdeathSig (-p SIGNAL), when not 0, is the signal ccinit gets when
	// its parent dies (and forwards like any other).
	PdeathSig syscall.Signal
	// Group (-g, TINI_KILL_PROCESS_GROUP) forwards signals to the
	// command's process group.
	Group bool
	// Remap (-e CODE, repeatable) lists the exit statuses turned into 0.
	Remap [256]bool
	// WarnOnReap (-w) prints a warning for every orphan reaped.
	WarnOnReap bool
	// Verbosity (-v, repeatable; TINI_VERBOSITY replaces it): 0 fatal
	// errors only, 1 warnings (the default), 2 info, 3 debug, 4 trace.
	Verbosity int
	// Args is the command and its arguments.
	Args []string
}

// tiniSignals are the names -p accepts: tini's list, with the SIG prefix.
var tiniSignals = map[string]syscall.Signal{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
	"SIGBUS": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12,
	"SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
	"SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
	"SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGSYS": 31,
}

// ParseTiniArgs parses tini's arguments (without argv[0]) and then its
// environment variables, read through lookup (os.LookupEnv).
//
// tini parses with glibc's getopt, and so does this, to the letter: option
// letters may be grouped (-vvv, -sg) and an option's value may follow its
// letter (-e3) or be the next argument; options may also follow the command
// (getopt moves them in front) up to "--", which ends them, so
// `tini CMD -- ARGS` runs CMD ARGS. With POSIXLY_CORRECT set, options end at
// the first argument that is not one, as in POSIX getopt. --version is only
// understood as the sole argument.
func ParseTiniArgs(args []string, lookup func(string) (string, bool)) (TiniOptions, error) {
	o := TiniOptions{Verbosity: TiniDefaultVerbosity}
	if len(args) == 1 && args[0] == "--version" {
		return o, ErrTiniVersion
	}
	_, posix := lookup("POSIXLY_CORRECT")
	var operands []string
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			if posix {
				break
			}
			operands = append(operands, a)
			continue
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			var value string
			if c == 'p' || c == 'e' {
				switch {
				case j+1 < len(a):
					value = a[j+1:]
				case i+1 < len(args):
					i++
					value = args[i]
				default:
					return o, fmt.Errorf("option -%c needs a value", c)
				}
				j = len(a)
			}
			switch c {
			case 'h':
				return o, ErrTiniHelp
			case 'l':
				return o, ErrTiniLicense
			case 's':
				o.Subreaper = true
			case 'v':
				o.Verbosity++
			case 'w':
				o.WarnOnReap = true
			case 'g':
				o.Group = true
			case 'p':
				sig, ok := tiniSignals[value]
				if !ok {
					return o, fmt.Errorf("-p %q: not a signal name tini knows (SIGKILL, SIGTERM, SIGUSR1, ...)", value)
				}
				o.PdeathSig = sig
			case 'e':
				code, ok := parseTiniCode(value)
				if !ok {
					return o, fmt.Errorf("-e %q: not an exit code from 0 to 255", value)
				}
				o.Remap[code] = true
			default:
				return o, fmt.Errorf("unknown option %q", "-"+a[j:j+1])
			}
		}
	}
	o.Args = append(operands, args[i:]...)
	if len(o.Args) == 0 {
		return o, errors.New("no command given")
	}
	// The environment comes after the flags, as in tini: TINI_VERBOSITY
	// replaces whatever -v said.
	if _, ok := lookup("TINI_SUBREAPER"); ok {
		o.Subreaper = true
	}
	if _, ok := lookup("TINI_KILL_PROCESS_GROUP"); ok {
		o.Group = true
	}
	if v, ok := lookup("TINI_VERBOSITY"); ok {
		o.Verbosity = atoi(v)
	}
	return o, nil
}

// parseTiniCode reads an exit code as tini does, with strtol: optional
// leading blanks and sign, decimal digits to the end; the empty string is 0.
func parseTiniCode(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return int(n), true
}

// atoi reads a number as C's atoi does: leading blanks, a sign, as many
// digits as follow; anything unreadable is 0. A negative verbosity, which
// tini stores unsigned, means everything is printed.
func atoi(s string) int {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg = t[0] == '-'
		t = t[1:]
	}
	n := 0
	for _, c := range t {
		if c < '0' || c > '9' || n > 1<<20 {
			break
		}
		n = n*10 + int(c-'0')
	}
	if neg && n > 0 {
		return 1 << 30
	}
	return n
}

// TiniUsage is the text -h prints, for name (argv[0]'s base name).
func TiniUsage(name string) string {
	return fmt.Sprintf(`%[1]s (ccinit, taking tini %[2]s's command line)
usage: %[1]s [OPTIONS] COMMAND [ARG...]
       %[1]s [OPTIONS] -- COMMAND [ARG...]
       %[1]s --version

Runs COMMAND as the init of a container: reaps zombies, forwards signals,
exits with COMMAND's status.

Options:
  -h          print this help and exit
  -s          register as a child subreaper (needed to reap when not PID 1)
  -p SIGNAL   get SIGNAL (a name such as SIGKILL) when the parent dies
  -v          print more: -v info, -vv debug, -vvv trace
  -w          print a warning for every orphan reaped
  -g          forward signals to the command's whole process group
  -e CODE     exit 0 when the command exits with CODE, 0-255 (repeatable)
  -l          print the license and exit
  --version   print the version and exit

Environment:
  TINI_SUBREAPER            set: as -s
  TINI_KILL_PROCESS_GROUP   set: as -g
  TINI_VERBOSITY=N          verbosity N (default %[3]d)
`, name, TiniVersion, TiniDefaultVerbosity)
}

// TiniLicense is what -l prints. ccinit is not tini and contains none of its
// code, so tini's license is not the one to show.
const TiniLicense = `This is ccinit, the init of ccontainer, installed under tini's name. It takes
tini's command line but shares no code with tini. Its license is that of the
ccontainer project; see the project's repository.
`
