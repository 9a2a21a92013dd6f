// Command ccsuper runs a container from a plain directory:
//
//	ccsuper --rootfs DIR [-t] [-i] [--hostname NAME] [-e KEY=VALUE]... [--workdir DIR]
//	        [--read-only] [--overlay [--keep]] [-v HOST:CONTAINER[:ro|rw]]... [--] [COMMAND [ARG...]]
//
// It exits with the command's status, 128+N if the command was killed by
// signal N, 125 for its own errors, 126 and 127 when the command cannot be
// executed or is not found.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/supervisor"
	"github.com/ccontainer/ccontainer/trace"
	"github.com/ccontainer/ccontainer/trace/report"
)

const usage = `usage: ccsuper --rootfs DIR [flags] [--] [COMMAND [ARG...]]
       ccsuper cleanup
       ccsuper [--root DIR] [--log FILE] ... create|start|state|kill|delete|run|exec|ps|list|spec|features ...
               (an OCI runtime with runc's command line: ccsuper create --help)

Runs COMMAND (default /bin/sh) as a child of ccinit, PID 1 in new PID, mount,
UTS, IPC and network namespaces with DIR as its root. "ccsuper cleanup"
removes the bridges no container uses (they stay after their last container)
and what supervisors that were killed left behind: leases, veths, NAT rules,
overlay layers, cgroups.

flags:
`

// envFlag collects -e values; a bare KEY takes the host's value, as in docker.
type envFlag []string

func (e *envFlag) String() string { return strings.Join(*e, ",") }
func (e *envFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		val, ok := os.LookupEnv(v)
		if !ok {
			return nil // docker skips an unset name too
		}
		v += "=" + val
	}
	if err := initproc.CheckEnv(v); err != nil {
		return err
	}
	*e = append(*e, v)
	return nil
}

// autoBool is a boolean flag that knows whether it was given.
type autoBool struct{ set, val bool }

func (b *autoBool) String() string   { return strconv.FormatBool(b.val) }
func (b *autoBool) IsBoolFlag() bool { return true }
func (b *autoBool) Set(v string) error {
	val, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not a boolean", v)
	}
	b.set, b.val = true, val
	return nil
}

// bothFlag is docker's combined -it: -i and -t in one.
type bothFlag struct {
	tty         *autoBool
	interactive *bool
}

func (f bothFlag) String() string   { return "" }
func (f bothFlag) IsBoolFlag() bool { return true }
func (f bothFlag) Set(v string) error {
	if err := f.tty.Set(v); err != nil {
		return err
	}
	*f.interactive = f.tty.val
	return nil
}

// traceFlag is --trace (a table for a person) or --trace=json (for tools).
type traceFlag string

func (f *traceFlag) String() string   { return string(*f) }
func (f *traceFlag) IsBoolFlag() bool { return true }
func (f *traceFlag) Set(v string) error {
	switch v {
	case "true", "text":
		*f = "text"
	case "json":
		*f = "json"
	case "false":
		*f = ""
	default:
		return fmt.Errorf("--trace=%q: want text or json", v)
	}
	return nil
}

// listFlag collects the values of a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseArgs turns ccsuper's arguments into a run configuration, and says
// how to print the trace ("" for none).
func parseArgs(args []string, help io.Writer) (supervisor.Config, traceFlag, error) {
	c := supervisor.Config{Hostname: supervisor.DefaultHostname, Subnet: supervisor.DefaultSubnet}
	net := string(supervisor.NetBridge)
	if supervisor.Rootless() {
		net = string(supervisor.NetPasta) // no bridge without root
	}
	fs := flag.NewFlagSet("ccsuper", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by main, in one line
	fs.StringVar(&c.Rootfs, "rootfs", "", "directory to use as the container's root `DIR` (required)")
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "container host `NAME`")
	fs.Var((*envFlag)(&c.Env), "e", "set `KEY=VALUE` in the container (repeatable; a bare KEY copies the host's value)")
	fs.Var((*envFlag)(&c.Env), "env", "same as -e")
	fs.StringVar(&c.Workdir, "workdir", "", "working `DIR`ectory of the command inside the container")
	fs.StringVar(&net, "net", net, "network: `MODE` bridge (veth to a host bridge), none (loopback only), host, or pasta (user-mode, the default without root)")
	fs.StringVar(&c.Subnet, "subnet", c.Subnet, "bridge network `CIDR`: the host is its first address, containers get the next free ones")
	fs.BoolVar(&c.NAT, "nat", false, "masquerade the container's outbound traffic through the host (bridge mode)")
	var tty autoBool
	fs.Var(&tty, "t", "run the command on a pseudo-terminal of its own (default: when stdin and stdout are a terminal)")
	fs.Var(&tty, "tty", "same as -t")
	fs.BoolVar(&c.Interactive, "i", true, "pass stdin to the command; -i=false gives it /dev/null")
	fs.BoolVar(&c.Interactive, "interactive", true, "same as -i")
	fs.Var(bothFlag{&tty, &c.Interactive}, "it", "same as -i -t")
	fs.Var(bothFlag{&tty, &c.Interactive}, "ti", "same as -i -t")
	var tr traceFlag
	fs.Var(&tr, "trace", "after the run, print every start-up and teardown step with its time on stderr (--trace=json for tools)")
	fs.BoolVar(&c.ReadOnly, "read-only", false, "mount the container's root read-only (/dev, /dev/shm, the /etc files and volumes stay writable)")
	fs.BoolVar(&c.Overlay, "overlay", false, "write to a layer of the container's own over the rootfs, which stays untouched (removed at exit)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the --overlay layer after exit and print where it is")
	fs.Var((*listFlag)(&c.Volumes), "v", "bind a host path into the container as `HOST:CONTAINER[:ro|rw]` (repeatable; CONTAINER made if missing)")
	fs.Var((*listFlag)(&c.Volumes), "volume", "same as -v")
	fs.Var((*listFlag)(&c.CapAdd), "cap-add", "give the command capability `CAP` (repeatable; CAP_ optional, any case, ALL)")
	fs.Var((*listFlag)(&c.CapDrop), "cap-drop", "take capability `CAP` from the command (repeatable; ALL)")
	fs.StringVar(&c.Seccomp, "seccomp", "", "seccomp `PROFILE`: default (Docker's, when not given) or unconfined")
	fs.StringVar(&c.User, "user", "", "run the command as `USER[:GROUP]`, names or numbers from the container's /etc/passwd and /etc/group")
	fs.BoolVar(&c.NewPrivs, "new-privileges", false, "let setuid programs and file capabilities raise the command's rights (no no_new_privs)")
	fs.BoolVar(&c.Privileged, "privileged", false, "all capabilities, no seccomp filter, /proc and /sys unmasked")
	fs.Func("p", "publish host port `[IP:]HOST:CONTAINER[/tcp|udp]` to the container (repeatable, --net pasta)", func(v string) error {
		p, err := supervisor.ParsePublish(v)
		c.Publish = append(c.Publish, p)
		return err
	})
	fs.StringVar(&c.UserNS, "userns", "", "`auto`: run as root, the container's root being a range of unprivileged host IDs of its own")
	fs.StringVar(&c.Init, "init", "", "`PATH` of the ccinit binary (default: next to ccsuper)")
	fs.Func("memory", "limit the container's memory to `BYTES` (suffix k, m, g or t; no swap beyond it)", func(v string) (err error) {
		c.Limits.Memory, err = supervisor.ParseBytes(v)
		return err
	})
	fs.Func("cpus", "limit the container to `N` CPUs' worth of time (fractional: 0.5 is half a CPU)", func(v string) (err error) {
		c.Limits.CPUQuota, err = supervisor.ParseCPUs(v)
		return err
	})
	fs.Int64Var(&c.Limits.Pids, "pids-limit", 0, "limit the container to `N` tasks, threads included (ccinit's own among them)")
	stats := fs.Bool("stats", false, "at exit, print the container's peak memory, CPU time and peak task count on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(help, usage)
			fs.SetOutput(help)
			fs.PrintDefaults()
		}
		return c, "", err
	}
	mode, err := supervisor.ParseNetMode(net)
	if err != nil {
		return c, "", err
	}
	c.Net = mode
	c.TTY = tty.val
	if !tty.set {
		c.TTY = c.Interactive && supervisor.WantTTY()
	}
	if *stats {
		c.Stats = func(u supervisor.Usage) { fmt.Fprintf(os.Stderr, "ccsuper: stats: %s\n", u) }
	}
	c.Args = fs.Args()
	if len(c.Args) == 0 {
		c.Args = []string{"/bin/sh"}
		// An interactive sh (ash, dash) reads $ENV at start: the
		// rootfs's /etc/profile gives the default shell its prompt.
		if !slices.ContainsFunc(c.Env, func(kv string) bool { return strings.HasPrefix(kv, "ENV=") }) {
			c.Env = append(c.Env, "ENV=/etc/profile")
		}
	}
	return c, tr, nil
}

func main() {
	origin := trace.Now()
	if len(os.Args) == 2 && os.Args[1] == execProxyArg {
		os.Exit(supervisor.ExecProxy())
	}
	if isOCI(os.Args[1:]) {
		os.Exit(runOCI(os.Args[1:]))
	}
	if len(os.Args) == 2 && os.Args[1] == "cleanup" {
		if err := supervisor.Cleanup(); err != nil {
			fmt.Fprintf(os.Stderr, "ccsuper: cleanup: %s\n", oneLine(err))
			os.Exit(initproc.ExitSetup)
		}
		return
	}
	cfg, tr, err := parseArgs(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccsuper: %s (see ccsuper --help)\n", oneLine(err))
		os.Exit(initproc.ExitSetup)
	}
	if tr != "" {
		cfg.Trace = trace.New("ccsuper")
		cfg.Trace.Span("parse flags", origin)
	}
	cfg.KeptLayer = func(dir string) {
		fmt.Fprintf(os.Stderr, "ccsuper: kept the overlay layer in %s (the container's writes are in upper/)\n", dir)
	}
	status, err := supervisor.Run(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccsuper: %s\n", oneLine(err))
	}
	if tr != "" {
		rep := report.Report{Origin: origin, End: trace.Now(), Events: cfg.Trace.Events()}
		write := rep.WriteText
		if tr == "json" {
			write = rep.WriteJSON
		}
		if err := write(os.Stderr); err != nil {
			fmt.Fprintf(os.Stderr, "ccsuper: trace: %s\n", oneLine(err))
		}
	}
	os.Exit(status)
}

// oneLine keeps an error on the one line a user is promised, whatever a path
// or name inside it holds, and names the kernel needed when a system call
// was missing.
func oneLine(err error) string {
	return strings.ReplaceAll(initproc.KernelTooOld(err).Error(), "\n", `\n`)
}
