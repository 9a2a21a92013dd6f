package supervisor

import "github.com/ccontainer/ccontainer/initproc"

// hardenOptions sets what ccinit does to keep root inside from being root of
// the host: Docker's default capabilities as tweaked, no_new_privs, the
// default seccomp filter, /proc masked; or none of it with --privileged.
//
// Preconditions: c passed Validate.
func hardenOptions(c Config, o *initproc.Options) {
	o.User = c.User
	if o.User == "" {
		// Root, with the groups the container's /etc/group gives it: the
		// supplementary groups of whoever started ccsuper stay out.
		o.User = "0"
	}
	if c.Privileged {
		o.ProcUnmasked = true
		return
	}
	caps, _ := initproc.TweakCaps(c.CapAdd, c.CapDrop) // checked by Validate
	o.Caps = caps.String()
	o.NoNewPrivs = !c.NewPrivs
	o.Seccomp = c.Seccomp != SeccompUnconfined
}
