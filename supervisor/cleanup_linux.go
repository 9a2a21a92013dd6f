package supervisor

import (
	"errors"
	"path/filepath"
	"strings"
)

// Cleanup reclaims what supervisors that are gone left behind: leases, host
// veths, NAT rules, /etc files, overlay layers and cgroups; and it removes
// the bridges no live container uses, which outlive their last container
// until then. Every start reclaims the same for its own bridge (and the
// cgroups, when it makes one), but keeps the bridge; `ccsuper cleanup` does
// it for all.
func Cleanup() error {
	root, err := stateRoot()
	if err != nil {
		return err
	}
	var errs []error
	reclaimFiles(root)
	errs = append(errs, reclaimLayers(), reclaimAuto())
	if Rootless() {
		return errors.Join(errs...) // a rootless ccsuper has no bridge or cgroup
	}
	states, _ := filepath.Glob(filepath.Join(root, "net", "*.json"))
	for _, s := range states {
		bridge := strings.TrimSuffix(filepath.Base(s), ".json")
		if bridge == "ip_forward" || bridge == "userns" {
			continue // not a bridge's: ip_forward's users are in the bridges' records
		}
		ls, st, err := lockBridgeState(bridge)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		reclaimLeases(st, bridge)
		errs = append(errs, retire(ls, st, bridge, true))
		ls.unlock()
	}
	errs = append(errs, cleanupCgroups())
	return errors.Join(errs...)
}
