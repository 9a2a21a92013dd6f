package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/supervisor"
	"github.com/ccontainer/ccontainer/trace"
	"github.com/ccontainer/ccontainer/trace/report"
)

// The OCI front end: runc's command line, as engines (podman, containerd's
// shim, Docker) call it:
//
//	ccsuper [--root DIR] [--log FILE] [--log-format text|json] [--debug]
//	        [--systemd-cgroup] COMMAND [FLAGS] ID ...

const ociUsage = `usage: ccsuper [global flags] COMMAND [flags] [ID] ...

OCI runtime commands (runc's command line):
  create [--bundle DIR] [--pid-file F] [--console-socket SOCK] ID
  start ID                 run the created container's process
  state ID                 print the OCI state JSON
  kill [--all] ID [SIGNAL] send SIGNAL (default TERM), name or number
  delete [--force] ID      remove a stopped (or created) container
  run [-d] [--bundle DIR] [--pid-file F] ID   create and start (and wait)
  exec [--process F | -t -u U --cwd D -e K=V] [-d] [--pid-file F] ID [CMD...]
  ps [--format table|json] ID
  list [--format table|json] [-q]
  spec [--bundle DIR]      write a default config.json
  features                 print the runtime-spec features JSON

global flags:
  --root DIR        state directory (default /run/ccsuper; rootless,
                    $XDG_RUNTIME_DIR/ccsuper)
  --log FILE        write errors to FILE too
  --log-format F    text or json (lines with level, msg, time)
  --debug           log each command as it starts
  --systemd-cgroup  accepted for engines; systemd cgroup paths are refused
  --trace[=json]    print the command's steps with their times on stderr
  --version         print the version
`

// ociCommands are the commands that select the OCI front end.
var ociCommands = map[string]func(*ociEnv, []string) (int, error){
	"create": cmdCreate, "start": cmdStart, "state": cmdState, "kill": cmdKill, "delete": cmdDelete,
	"run": cmdRun, "exec": cmdExec, "ps": cmdPs, "list": cmdList, "spec": cmdSpec, "features": cmdFeatures,
}

// ociEnv is what the global flags set.
type ociEnv struct {
	rt        supervisor.Runtime
	log       io.Writer // nil: stderr only
	logFormat string
	debug     bool
	stdout    io.Writer
}

// ociGlobals are the global flags that take a value.
var ociGlobals = map[string]bool{"root": true, "log": true, "log-format": true, "criu": true, "rootless": true}

// isOCI reports whether args (without argv[0]) call the OCI front end: only
// global flags before one of its commands.
func isOCI(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			_, ok := ociCommands[a]
			return ok
		}
		name := strings.TrimLeft(a, "-")
		if name == "version" || name == "v" {
			return true
		}
		if n, _, eq := strings.Cut(name, "="); ociGlobals[n] && !eq {
			i++
		} else if !ociGlobals[n] && n != "debug" && n != "systemd-cgroup" && n != "trace" {
			return false
		}
	}
	return false
}

// runOCI runs one OCI command and returns the exit status.
func runOCI(args []string) int {
	env := &ociEnv{stdout: os.Stdout}
	fs := flag.NewFlagSet("ccsuper", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&env.rt.Root, "root", "", "")
	logPath := fs.String("log", "", "")
	fs.StringVar(&env.logFormat, "log-format", "text", "")
	fs.BoolVar(&env.debug, "debug", false, "")
	fs.Bool("systemd-cgroup", false, "")
	fs.String("criu", "", "")
	fs.String("rootless", "", "")
	var tr traceFlag
	fs.Var(&tr, "trace", "")
	version := fs.Bool("version", false, "")
	fs.BoolVar(version, "v", false, "")
	if err := fs.Parse(args); err != nil {
		return env.fail(initproc.ExitSetup, err)
	}
	if *version {
		fmt.Fprintf(env.stdout, "ccsuper version %s\nspec: %s\n", ccsuperVersion, specVersion())
		return 0
	}
	if env.logFormat != "text" && env.logFormat != "json" {
		return env.fail(initproc.ExitSetup, fmt.Errorf("--log-format %q: want text or json", env.logFormat))
	}
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return env.fail(initproc.ExitSetup, fmt.Errorf("--log: %w", err))
		}
		defer f.Close()
		env.log = f
	}
	env.rt.Warn = func(err error) { env.logLine("warning", oneLine(err)) }
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(os.Stderr, ociUsage)
		return initproc.ExitSetup
	}
	cmd := ociCommands[rest[0]]
	if env.debug {
		env.logLine("debug", "ccsuper "+strings.Join(args, " "))
		env.rt.Debug = func(msg string) { env.logLine("debug", msg) }
	}
	env.rt.Rootless = supervisor.OCIRootless()
	if env.rt.Root == "" && rest[0] != "spec" && rest[0] != "features" {
		root, err := supervisor.OCIRoot(env.rt.Rootless, os.Getenv)
		if err == nil && env.rt.Rootless {
			err = supervisor.MakeOwnRoot(root)
		}
		if err != nil {
			return env.fail(initproc.ExitSetup, err)
		}
		env.rt.Root = root
	}
	if tr != "" {
		env.rt.Trace = trace.New("ccsuper")
		origin := trace.Now()
		defer func() {
			rep := report.Report{Origin: origin, End: trace.Now(), Events: env.rt.Trace.Events()}
			write := rep.WriteText
			if tr == "json" {
				write = rep.WriteJSON
			}
			_ = write(os.Stderr) // a report: nothing to do about a failure
		}()
	}
	status, err := cmd(env, rest[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.stdout, ociUsage)
		return 0
	}
	if err != nil {
		if status == 0 {
			status = initproc.ExitSetup
		}
		return env.fail(status, err)
	}
	return status
}

// fail reports err on stderr and in the log, and returns status. When
// ccinit ended a create and said why on stderr itself, stderr keeps its one
// line; the log still says how it ended.
func (e *ociEnv) fail(status int, err error) int {
	msg := oneLine(err)
	if !supervisor.SaidByInit(err) {
		fmt.Fprintf(os.Stderr, "ccsuper: %s\n", msg)
	}
	e.logLine("error", msg)
	return status
}

// logLine writes one line to --log in its format: runc's json lines have
// "level", "msg" and "time", which engines parse for the error to show.
func (e *ociEnv) logLine(level, msg string) {
	if e.log == nil {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if e.logFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now}) // strings only: cannot fail
		fmt.Fprintf(e.log, "%s\n", b)
		return
	}
	fmt.Fprintf(e.log, "time=%q level=%s msg=%q\n", now, level, msg)
}

// subFlags makes a command's flag set; its errors are returned, not printed.
func subFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// oneID checks that exactly the container ID is left.
func oneID(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("%s: want one container ID, got %d arguments", fs.Name(), fs.NArg())
	}
	return fs.Arg(0), nil
}

func createFlags(name string, o *supervisor.CreateOptions) *flag.FlagSet {
	fs := subFlags(name)
	fs.StringVar(&o.Bundle, "bundle", ".", "")
	fs.StringVar(&o.Bundle, "b", ".", "")
	fs.StringVar(&o.PidFile, "pid-file", "", "")
	fs.StringVar(&o.ConsoleSocket, "console-socket", "", "")
	fs.BoolVar(&o.NoPivot, "no-pivot", false, "")
	fs.Bool("no-new-keyring", false, "") // ccinit never makes a session keyring
	fs.Int("preserve-fds", 0, "")
	return fs
}

func cmdCreate(e *ociEnv, args []string) (int, error) {
	var o supervisor.CreateOptions
	fs := createFlags("create", &o)
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if n, _ := strconv.Atoi(fs.Lookup("preserve-fds").Value.String()); n > 0 {
		return 0, errors.New("--preserve-fds is not supported")
	}
	id, err := oneID(fs)
	if err != nil {
		return 0, err
	}
	return e.rt.Create(id, o)
}

func cmdRun(e *ociEnv, args []string) (int, error) {
	var o supervisor.CreateOptions
	fs := createFlags("run", &o)
	detach := fs.Bool("detach", false, "")
	fs.BoolVar(detach, "d", false, "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	id, err := oneID(fs)
	if err != nil {
		return 0, err
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	return e.rt.Run(id, o, *detach, sigs)
}

func cmdStart(e *ociEnv, args []string) (int, error) {
	fs := subFlags("start")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	id, err := oneID(fs)
	if err != nil {
		return 0, err
	}
	return 0, e.rt.Start(id)
}

func cmdState(e *ociEnv, args []string) (int, error) {
	fs := subFlags("state")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	id, err := oneID(fs)
	if err != nil {
		return 0, err
	}
	st, err := e.rt.State(id)
	if err != nil {
		return 0, err
	}
	return 0, printJSON(e.stdout, st)
}

func cmdKill(e *ociEnv, args []string) (int, error) {
	fs := subFlags("kill")
	all := fs.Bool("all", false, "")
	fs.BoolVar(all, "a", false, "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return 0, errors.New("kill: want ID [SIGNAL]")
	}
	sig := unix.SIGTERM
	if fs.NArg() == 2 {
		var err error
		if sig, err = parseSignal(fs.Arg(1)); err != nil {
			return 0, err
		}
	}
	return 0, e.rt.Kill(fs.Arg(0), sig, *all)
}

// parseSignal reads a signal as a number, or a name with or without SIG.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d is out of range", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func cmdDelete(e *ociEnv, args []string) (int, error) {
	fs := subFlags("delete")
	force := fs.Bool("force", false, "")
	fs.BoolVar(force, "f", false, "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	id, err := oneID(fs)
	if err != nil {
		return 0, err
	}
	err = e.rt.Delete(id, *force)
	if *force && errors.Is(err, supervisor.ErrNotExist) {
		return 0, nil // runc: --force on an unknown container succeeds
	}
	return 0, err
}

// execProxyArg is the hidden command of a detached exec's proxy.
const execProxyArg = "exec-proxy"

func cmdExec(e *ociEnv, args []string) (int, error) {
	var o supervisor.ExecOptions
	fs := subFlags("exec")
	fs.StringVar(&o.ProcessFile, "process", "", "")
	fs.StringVar(&o.ProcessFile, "p", "", "")
	fs.BoolVar(&o.TTY, "tty", false, "")
	fs.BoolVar(&o.TTY, "t", false, "")
	fs.StringVar(&o.ConsoleSocket, "console-socket", "", "")
	fs.StringVar(&o.PidFile, "pid-file", "", "")
	fs.BoolVar(&o.Detach, "detach", false, "")
	fs.BoolVar(&o.Detach, "d", false, "")
	fs.StringVar(&o.Cwd, "cwd", "", "")
	fs.Var((*listFlag)(&o.Env), "env", "")
	fs.Var((*listFlag)(&o.Env), "e", "")
	fs.StringVar(&o.User, "user", "", "")
	fs.StringVar(&o.User, "u", "", "")
	fs.Bool("no-new-privs", false, "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() < 1 {
		return 0, errors.New("exec: want ID [COMMAND...]")
	}
	if fs.Lookup("no-new-privs").Value.String() == "true" {
		return 0, errors.New("exec: --no-new-privs: give it in --process")
	}
	o.Args = fs.Args()[1:]
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	o.Proxy = []string{self, execProxyArg}
	return e.rt.Exec(fs.Arg(0), o)
}

func cmdPs(e *ociEnv, args []string) (int, error) {
	fs := subFlags("ps")
	format := fs.String("format", "table", "")
	fs.StringVar(format, "f", "table", "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() < 1 {
		return 0, errors.New("ps: want ID")
	}
	pids, err := e.rt.Pids(fs.Arg(0))
	if err != nil {
		return 0, err
	}
	if *format == "json" {
		if pids == nil {
			pids = []int{}
		}
		return 0, printJSON(e.stdout, pids)
	}
	if *format != "table" {
		return 0, fmt.Errorf("--format %q: want table or json", *format)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "PID\tCMD")
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)) // gone meanwhile: an empty line
		fmt.Fprintf(w, "%d\t%s\n", pid, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return 0, w.Flush()
}

func cmdList(e *ociEnv, args []string) (int, error) {
	fs := subFlags("list")
	format := fs.String("format", "table", "")
	fs.StringVar(format, "f", "table", "")
	quiet := fs.Bool("quiet", false, "")
	fs.BoolVar(quiet, "q", false, "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	cs, err := e.rt.List()
	if err != nil {
		return 0, err
	}
	switch {
	case *quiet:
		for _, c := range cs {
			fmt.Fprintln(e.stdout, c.ID)
		}
		return 0, nil
	case *format == "json":
		if cs == nil {
			cs = []supervisor.Listed{}
		}
		return 0, printJSON(e.stdout, cs)
	case *format != "table":
		return 0, fmt.Errorf("--format %q: want table or json", *format)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
	for _, c := range cs {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", c.ID, c.Pid, c.Status, c.Bundle, c.Created.Format(time.RFC3339Nano))
	}
	return 0, w.Flush()
}

func cmdSpec(e *ociEnv, args []string) (int, error) {
	fs := subFlags("spec")
	bundle := fs.String("bundle", ".", "")
	fs.StringVar(bundle, "b", ".", "")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() > 0 {
		return 0, errors.New("spec: takes no arguments")
	}
	return 0, supervisor.WriteDefaultSpec(*bundle)
}

func cmdFeatures(e *ociEnv, args []string) (int, error) {
	if len(args) > 0 {
		return 0, errors.New("features: takes no arguments")
	}
	return 0, printJSON(e.stdout, supervisor.Features(ccsuperVersion))
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// ccsuperVersion is printed by --version and in features.
const ccsuperVersion = "0.1.0"

func specVersion() string { return supervisor.SpecVersion }
