# bench/lib.sh: process-group and /proc helpers shared by bench/run.sh, bench/run_tls.sh and
# bench/run_auth.sh.
# Sourced, not run. The caller sets $tmp (with $tmp/logs) and declares the associative array
# live (process group id -> 1 while we own it), and stops every group in live on exit.
group_alive() { # PGID: true while a non-zombie process of the group exists
	local p st
	for p in $(pgrep -g "$1" 2>/dev/null || true); do
		st=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null | awk '{print $1}') || continue
		[ -n "$st" ] && [ "$st" != Z ] && return 0
	done
	return 1
}

stop_group() { # PGID: SIGTERM the group, SIGKILL after 5 s, reap the leader
	local pg=$1 i
	kill -TERM -- "-$pg" 2>/dev/null || true
	for i in $(seq 50); do
		group_alive "$pg" || break
		sleep 0.1
	done
	group_alive "$pg" && kill -KILL -- "-$pg" 2>/dev/null || true
	wait "$pg" 2>/dev/null || true
	unset "live[$pg]"
}


# start_group NAME CPU CMD...: run CMD pinned to CPU in a new session (so its own process
# group: the leader's pid is the group id, setsid does not fork when called from a script's
# background child), stdout/stderr to $tmp/logs/NAME.{out,err}. Sets STARTED.
start_group() {
	local name=$1 cpu=$2
	shift 2
	setsid taskset -c "$cpu" "$@" >"$tmp/logs/$name.out" 2>"$tmp/logs/$name.err" </dev/null &
	STARTED=$!
	live[$STARTED]=1
}

port_is_free() {
	/usr/bin/python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

# Ports below the ephemeral range (32768+), where other programs' port-0 binds never land.
used_ports=" "
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case "$used_ports" in *" $p "*) continue ;; esac
		port_is_free "$p" && { used_ports+="$p "; echo "$p"; return; }
	done
}

wait_port() { # PORT PGID: until something accepts on 127.0.0.1:PORT (10 s)
	local i
	for i in $(seq 200); do
		group_alive "$2" || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

cpu_ticks() { # PGID: utime+stime of every process in the group, clock ticks
	local p s t=0
	for p in $(pgrep -g "$1" 2>/dev/null || true); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		# shellcheck disable=SC2086
		set -- $s
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}

rss_kb() { # PGID: VmRSS of every process in the group, KiB
	local p t=0 v
	for p in $(pgrep -g "$1" 2>/dev/null || true); do
		v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

fd_count() { # PGID: open fds of every process in the group
	local p t=0 n
	for p in $(pgrep -g "$1" 2>/dev/null || true); do
		n=$(ls "/proc/$p/fd" 2>/dev/null | wc -l || true)
		t=$((t + n))
	done
	echo "$t"
}

# bench_install CMD=PACKAGE ...: installs the Debian packages whose command is missing
# (apt-get update first), as root or with sudo. A CMD with a '/' is checked as a path.
bench_install() {
	local pair cmd need=() sudo_cmd=()
	[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
	for pair in "$@"; do
		cmd=${pair%%=*}
		if [[ $cmd == */* ]]; then [ -x "$cmd" ] && continue; else command -v "$cmd" >/dev/null && continue; fi
		need+=("${pair#*=}")
	done
	[ ${#need[@]} -gt 0 ] || return 0
	echo "bench: installing Debian packages: ${need[*]}"
	"${sudo_cmd[@]}" apt-get update -qq
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${need[@]}"
}

# bench_traps: on exit every process group in live is stopped and $tmp removed (kept with
# KEEP=1); an interrupt says so and exits 130.
bench_cleanup() {
	trap - INT TERM EXIT
	local pg
	for pg in "${!live[@]}"; do stop_group "$pg"; done
	if [ -n "${KEEP:-}" ]; then echo "bench: kept $tmp"; else rm -rf "$tmp"; fi
}
bench_traps() {
	trap bench_cleanup EXIT
	trap 'echo "bench: interrupted, stopping everything" >&2; exit 130' INT TERM
}
