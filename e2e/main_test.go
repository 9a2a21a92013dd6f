// Package e2e tests the built ccsuper and ccinit binaries from the outside, as
// root: real namespaces, real mounts, a real busybox rootfs. TestMain builds
// both binaries and a fresh rootfs in a temporary directory, so the tests
// depend neither on build/ nor on a rootfs made by hand.
//
// Every process a test starts runs under a deadline (timeout), so a hang fails
// the test instead of blocking the suite; no test asserts how fast anything is.
package e2e

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Set by TestMain before any test runs, read-only afterwards.
var (
	ccsuperBin string // host path of the freshly built ccsuper
	ccinitBin  string // host path of the freshly built ccinit, next to ccsuper
	baseRootfs string // busybox rootfs shared by the tests that do not change it
)

// busybox is the static busybox the rootfs is built from (Debian's busybox-static).
const busybox = "/bin/busybox"

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case os.Geteuid() != 0:
		fmt.Println("e2e: skipped, needs root (namespaces, mounts, chroot)")
		os.Exit(0)
	case testing.Short():
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	case os.Getenv(inHostNS) == "":
		os.Exit(reexecInThrowawayHost())
	}
	if err := setUpThrowawayHost(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(runMain(m))
}

// inHostNS marks the test binary run again inside its throwaway "host".
const inHostNS = "CCONTAINER_E2E_THROWAWAY_HOST"

// reexecInThrowawayHost runs this test binary again in a network and mount
// namespace of its own, which the suite treats as the host: ccsuper's
// bridges, veths, NAT rules and its state under /run are made there, and the
// machine's real network and /run are never touched.
func reexecInThrowawayHost() int {
	args := append([]string{"--net", "--mount", "--propagation", "private", os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), inHostNS+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		return cmd.ProcessState.ExitCode()
	}
	fmt.Fprintf(os.Stderr, "e2e: run in a throwaway namespace: %v\n", err)
	return 1
}

// setUpThrowawayHost gives the throwaway host a loopback and a /run of its own.
func setUpThrowawayHost() error {
	if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
		return fmt.Errorf("private /run: %w", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ccontainer-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer func() {
		if err := removeTree(dir); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		}
	}()

	// In the guest of `make test-vm` there is no Go toolchain: the image
	// carries ccsuper and ccinit built on the host, and says where.
	bin := os.Getenv(prebuiltEnv)
	if bin == "" {
		bin = filepath.Join(dir, "bin")
		if err := buildBinaries(bin); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
	}
	ccsuperBin = filepath.Join(bin, "ccsuper")
	ccinitBin = filepath.Join(bin, "ccinit")

	baseRootfs = filepath.Join(dir, "rootfs")
	if err := buildRootfs(baseRootfs); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: rootfs: %v\n", err)
		return 1
	}

	code := m.Run()
	// Every container and every standalone ccinit must be gone once its
	// test has waited for it.
	if left := processesOf(ccsuperBin, ccinitBin); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: processes still running after the tests: %s\n", strings.Join(left, "; "))
		code = 1
	}
	return code
}

// prebuiltEnv names a directory holding ccsuper and ccinit already built,
// used instead of building them (the guest of `make test-vm` has no Go).
const prebuiltEnv = "CCONTAINER_E2E_BIN"

// buildBinaries builds static ccsuper and ccinit into dir.
func buildBinaries(dir string) error {
	gobin, err := exec.LookPath("go") // go test puts its GOROOT/bin first in PATH
	if err != nil {
		return fmt.Errorf("find the go command: %w", err)
	}
	// ccinit's entry point runs before the Go runtime (see the Makefile).
	ccinitFlags := []string{}
	if runtime.GOARCH == "amd64" {
		ccinitFlags = append(ccinitFlags, "-ldflags=-E main.entry")
	}
	// ccsuper with the hooks only tests use (supervisor/testhook_linux.go).
	ccsuperFlags := []string{"-tags", "ccsuper_testhooks", "./cmd/ccsuper"}
	for _, b := range [][]string{ccsuperFlags, append(ccinitFlags, "./cmd/ccinit")} {
		cmd := exec.Command(gobin, append([]string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}, b...)...)
		cmd.Dir = ".." // the module root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %w\n%s", err, out)
		}
	}
	return nil
}

// buildRootfs makes a minimal busybox root at root, as
// scripts/mkrootfs-busybox.sh does, without ccinit in it.
func buildRootfs(root string) error {
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|fs.ModeSticky); err != nil {
		return err
	}
	if err := copyFile(busybox, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return err
	}
	list, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "bin/busybox" {
			continue
		}
		p := filepath.Join(root, applet)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(root, "bin/sh")); err != nil {
		return fmt.Errorf("busybox has no sh applet: %w", err)
	}
	return copyTree("../rootfs-overlay", root, copyFile)
}

// newRootfs returns a private copy of the base rootfs for a test that changes
// it. Files are hard links (cheap); add or replace files, never edit one in place.
func newRootfs(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	link := func(src, dst string, _ fs.FileMode) error { return os.Link(src, dst) }
	if err := copyTree(baseRootfs, root, link); err != nil {
		t.Fatalf("copy rootfs: %v", err)
	}
	// Registered after t.TempDir's own cleanup, so it runs before the tree is
	// removed: a mount leaked on the host under root must be reported, and
	// detached so that the removal does not walk into it.
	t.Cleanup(func() {
		left, err := mountsUnder(root)
		if err != nil {
			t.Error(err)
			return
		}
		for _, m := range left {
			t.Errorf("mount left on the host: %s", m)
		}
		detachUnder(root)
	})
	return root
}

// copyTree copies the tree src into dst (created if missing): directories
// with their modes, symlinks as they are, regular files with file.
func copyTree(src, dst string, file func(src, dst string, mode fs.FileMode) error) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode()&(fs.ModePerm|fs.ModeSticky))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(to) // the overlay may replace a file; a missing one is fine
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			_ = os.Remove(to) // as above
			return file(p, to, info.Mode().Perm())
		}
		return fmt.Errorf("%s: unexpected file type %s", p, d.Type())
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // not narrowed by the umask
}

// removeTree removes dir unless the host has something mounted under it:
// removing through a leaked mount could delete what the mount shows.
func removeTree(dir string) error {
	left, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return errors.New("not removing " + dir + ", mounts left under it: " + strings.Join(left, "; "))
	}
	return os.RemoveAll(dir)
}
