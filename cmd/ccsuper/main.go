// Command ccsuper runs a container from a plain directory:
//
//	ccsuper --rootfs DIR [--hostname NAME] [-e KEY=VALUE]... [--workdir DIR] [--] [COMMAND [ARG...]]
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
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/supervisor"
)

const usage = `usage: ccsuper --rootfs DIR [flags] [--] [COMMAND [ARG...]]
       ccsuper cleanup

Runs COMMAND (default /bin/sh) as a child of ccinit, PID 1 in new PID, mount,
UTS, IPC and network namespaces with DIR as its root. "ccsuper cleanup"
removes what supervisors that were killed left behind: leases, veths, unused
bridges, NAT rules.

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

// listFlag collects the values of a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// parseArgs turns ccsuper's arguments into a run configuration.
func parseArgs(args []string, help io.Writer) (supervisor.Config, error) {
	c := supervisor.Config{Hostname: supervisor.DefaultHostname, Subnet: supervisor.DefaultSubnet}
	net := string(supervisor.NetBridge)
	fs := flag.NewFlagSet("ccsuper", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by main, in one line
	fs.StringVar(&c.Rootfs, "rootfs", "", "directory to use as the container's root `DIR` (required)")
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "container host `NAME`")
	fs.Var((*envFlag)(&c.Env), "e", "set `KEY=VALUE` in the container (repeatable; a bare KEY copies the host's value)")
	fs.Var((*envFlag)(&c.Env), "env", "same as -e")
	fs.StringVar(&c.Workdir, "workdir", "", "working `DIR`ectory of the command inside the container")
	fs.StringVar(&net, "net", net, "network: `MODE` bridge (veth to a host bridge), none (loopback only) or host")
	fs.StringVar(&c.Subnet, "subnet", c.Subnet, "bridge network `CIDR`: the host is its first address, containers get the next free ones")
	fs.BoolVar(&c.NAT, "nat", false, "masquerade the container's outbound traffic through the host (bridge mode)")
	fs.Var((*listFlag)(&c.CapAdd), "cap-add", "give the command capability `CAP` (repeatable; CAP_ optional, any case, ALL)")
	fs.Var((*listFlag)(&c.CapDrop), "cap-drop", "take capability `CAP` from the command (repeatable; ALL)")
	fs.StringVar(&c.Seccomp, "seccomp", "", "seccomp `PROFILE`: default (Docker's, when not given) or unconfined")
	fs.StringVar(&c.User, "user", "", "run the command as `USER[:GROUP]`, names or numbers from the container's /etc/passwd and /etc/group")
	fs.BoolVar(&c.NewPrivs, "new-privileges", false, "let setuid programs and file capabilities raise the command's rights (no no_new_privs)")
	fs.BoolVar(&c.Privileged, "privileged", false, "all capabilities, no seccomp filter, /proc and /sys unmasked")
	fs.StringVar(&c.Init, "init", "", "`PATH` of the ccinit binary (default: next to ccsuper)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(help, usage)
			fs.SetOutput(help)
			fs.PrintDefaults()
		}
		return c, err
	}
	mode, err := supervisor.ParseNetMode(net)
	if err != nil {
		return c, err
	}
	c.Net = mode
	c.Args = fs.Args()
	if len(c.Args) == 0 {
		c.Args = []string{"/bin/sh"}
	}
	return c, nil
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "cleanup" {
		if err := supervisor.Cleanup(); err != nil {
			fmt.Fprintf(os.Stderr, "ccsuper: cleanup: %s\n", oneLine(err))
			os.Exit(initproc.ExitSetup)
		}
		return
	}
	cfg, err := parseArgs(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccsuper: %s (see ccsuper --help)\n", oneLine(err))
		os.Exit(initproc.ExitSetup)
	}
	status, err := supervisor.Run(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ccsuper: %s\n", oneLine(err))
	}
	os.Exit(status)
}

// oneLine keeps an error on the one line a user is promised, whatever a path
// or name inside it holds.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", `\n`) }
