# Shared by the scripts in this directory; source it, do not run it.

# is_static FILE: true when FILE is an ELF binary with no program interpreter.
is_static() { ! readelf -lW "$1" 2>/dev/null | grep -q 'program interpreter'; }

# apt_install WHO PACKAGE...: installs the Debian packages, refreshing the
# package lists only when the first try fails (a fresh machine has none).
# WHO prefixes the messages.
apt_install() {
	local who=$1
	shift
	if [ "$(id -u)" -ne 0 ]; then
		echo "$who: need $*; run as root (or: sudo apt-get install $*)" >&2
		return 1
	fi
	echo "$who: installing $* with apt" >&2
	# Another apt may hold the dpkg lock (a second script, unattended upgrades): wait for it.
	local wait=(-o DPkg::Lock::Timeout=600)
	DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq "$@" >/dev/null 2>&1 ||
		{ apt-get "${wait[@]}" update -qq && DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -qq "$@" >/dev/null; }
}

# median: the median of the numbers on stdin, one a line (the benchmarks'
# summary; sort -g also orders ratios written with exponents).
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
