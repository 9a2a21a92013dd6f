// Package supervisor is everything ccsuper does on the host: it checks the
// configuration, clones ccinit into new namespaces, does the host-side setup
// for it, tells it to go, forwards signals to it and waits for it.
package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccontainer/ccontainer/initproc"
	"github.com/ccontainer/ccontainer/trace"
)

// DefaultHostname is the container's hostname when none is given.
const DefaultHostname = "ccontainer"

// Config is one container run.
type Config struct {
	// Rootfs is the directory that becomes the container's /.
	Rootfs string
	// Hostname is set in the container's UTS namespace.
	Hostname string
	// Env holds KEY=VALUE pairs for the command, over ccinit's defaults.
	Env []string
	// Workdir is the command's working directory inside the container.
	Workdir string
	// Net is how the container is connected; Subnet (bridge mode) the
	// network its address comes from; NAT masquerades its traffic out.
	Net    NetMode
	Subnet string
	NAT    bool
	// TTY runs the command on a pseudo-terminal of the container's own,
	// joined to ccsuper's stdin and stdout. Interactive passes ccsuper's
	// stdin to the command; without it the command's stdin is /dev/null.
	TTY         bool
	Interactive bool
	// ReadOnly mounts the container's root read-only.
	ReadOnly bool
	// Overlay makes the rootfs the lower layer of an overlayfs, with a
	// writable layer of the container's own in OverlayDir, so the rootfs is
	// never written. Keep keeps that layer after the container exits.
	Overlay bool
	Keep    bool
	// KeptLayer, when set, is called with the directory of the layer Keep
	// kept, once the container has exited, for main to tell the user.
	KeptLayer func(dir string)
	// Volumes are -v specs, HOST:CONTAINER[:ro|rw].
	Volumes []string
	// CapAdd and CapDrop change the command's capabilities from Docker's
	// default set, with Docker's rules (initproc.TweakCaps).
	CapAdd, CapDrop []string
	// Seccomp is "default" (or empty) for the default filter, "unconfined"
	// for none.
	Seccomp string
	// User is USER[:GROUP] for the command, looked up inside the container.
	User string
	// NewPrivs lets the command gain rights through setuid programs and file
	// capabilities: no no_new_privs.
	NewPrivs bool
	// Privileged gives the command every capability, no seccomp filter and
	// /proc and /sys unmasked, as docker run --privileged.
	Privileged bool
	// UserNS is "" (the container's root is the host's, unless ccsuper
	// runs rootless) or "auto": a user namespace whose IDs are a range of
	// the host's of its own (see allocAuto), with the rootfs, binds and
	// volumes mounted idmapped.
	UserNS string
	// Publish forwards ports of the host into the container (--net pasta).
	Publish []Publish
	// Init is the host path of the ccinit binary to start as PID 1.
	Init string
	// Args is the command, resolved inside the container.
	Args []string
	// Trace, when not nil, records the steps of the run on both sides of
	// the sync socket (ccsuper --trace).
	Trace *trace.Recorder
	// Limits constrain the container through a cgroup of its own.
	Limits Limits
	// Stats, when set, is given what the container used, read from its
	// cgroup when it ends.
	Stats func(Usage)
}

// UserNSAuto is --userns=auto.
const UserNSAuto = "auto"

// checkRootless refuses, when ccsuper runs as an ordinary user, what only
// root can do, in one line each.
func (c *Config) checkRootless() error {
	if !Rootless() {
		if c.Net == NetPasta {
			// pasta run by root drops to nobody, who may not enter
			// the container's namespaces.
			return errors.New("--net pasta is for rootless containers: as root, use bridge")
		}
		return nil
	}
	switch {
	case c.Net == NetBridge || c.Net == NetHost:
		return fmt.Errorf("--net %s needs root: a rootless container has --net pasta (the default) or none", c.Net)
	case c.UserNS == UserNSAuto:
		return errors.New("--userns=auto needs root: a rootless container's IDs are the user's own and /etc/subuid's")
	case c.Limits != (Limits{}) || c.Stats != nil:
		// A delegated cgroup v2 (systemd's user@.service) would do; it is
		// not used yet (docs/rootless.md).
		return errors.New("--memory, --cpus, --pids-limit and --stats need root: rootless limits through a delegated cgroup v2 are not supported yet")
	}
	return nil
}

// The values of --seccomp.
const (
	SeccompDefault    = "default"
	SeccompUnconfined = "unconfined"
)

// Validate checks c without touching anything, so that bad input fails before
// any namespace, mount or process exists.
func (c *Config) Validate() error {
	if c.Rootfs == "" {
		return errors.New("--rootfs is required")
	}
	st, err := os.Stat(c.Rootfs)
	if err != nil {
		return fmt.Errorf("rootfs %q: %w", c.Rootfs, initproc.WithoutPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("rootfs %q is not a directory", c.Rootfs)
	}
	if err := CheckHostname(c.Hostname); err != nil {
		return err
	}
	for _, kv := range c.Env {
		if err := initproc.CheckEnv(kv); err != nil {
			return err
		}
	}
	if c.Workdir != "" && (!filepath.IsAbs(c.Workdir) || strings.ContainsRune(c.Workdir, 0)) {
		return fmt.Errorf("--workdir %q is not an absolute path", c.Workdir)
	}
	if _, err := ParseNetMode(string(c.Net)); err != nil {
		return err
	}
	if c.Net == NetBridge {
		if _, err := ParseSubnet(c.Subnet); err != nil {
			return err
		}
	}
	if c.NAT && c.Net != NetBridge {
		return fmt.Errorf("--nat needs --net bridge, not %s", c.Net)
	}
	if len(c.Publish) > 0 && c.Net != NetPasta {
		return fmt.Errorf("-p needs --net pasta, not %s", c.Net)
	}
	if c.UserNS != "" && c.UserNS != UserNSAuto {
		return fmt.Errorf("--userns %q: want %s", c.UserNS, UserNSAuto)
	}
	if c.UserNS == UserNSAuto && c.Overlay {
		return errors.New("--userns=auto with --overlay is not supported yet: the overlay's lower layer would need to be idmapped")
	}
	if err := c.checkRootless(); err != nil {
		return err
	}
	if c.Keep && !c.Overlay {
		return errors.New("--keep needs --overlay")
	}
	if _, err := hostVolumes(c.Volumes); err != nil {
		return err
	}
	if err := c.Limits.check(); err != nil {
		return err
	}
	if _, err := initproc.TweakCaps(c.CapAdd, c.CapDrop); err != nil {
		return err
	}
	if c.Seccomp != "" && c.Seccomp != SeccompDefault && c.Seccomp != SeccompUnconfined {
		return fmt.Errorf("--seccomp %q: want %s or %s", c.Seccomp, SeccompDefault, SeccompUnconfined)
	}
	if c.User != "" {
		if err := initproc.CheckUser(c.User); err != nil {
			return err
		}
	}
	if len(c.Args) == 0 || c.Args[0] == "" {
		return errors.New("no command given")
	}
	for _, a := range c.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}
	return nil
}

// CheckHostname accepts an RFC 1123 host name of at most 64 bytes, the
// kernel's limit.
func CheckHostname(h string) error {
	if h == "" || len(h) > 64 {
		return fmt.Errorf("hostname %q must be 1 to 64 characters", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("hostname %q: labels must be non-empty and not start or end with '-'", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("hostname %q: %q is not a letter, digit or '-'", h, r)
			}
		}
	}
	return nil
}
