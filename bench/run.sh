#!/usr/bin/env bash
# make bench: wsgate, nginx and HAProxy side by side, each in front of the same wsgate-echo
# backend and driven by the same wsgate-bench load, one proxy at a time, with the floor
# (wsgate-floor, bench/floor_relay.c: an io_uring byte relay that parses nothing) as the
# fourth row: the least any proxy costs here. Results go into
# docs/BENCHMARKS.md (between the bench:begin/bench:end markers, nothing else in that file is
# touched) and docs/bench/{latency,cpu}.png; the raw per-run JSON lines into build/bench/.
#
#   bench/run.sh [BIN_DIR]          BIN_DIR holds wsgate, wsgate-echo, wsgate-bench,
#                                   wsgate-floor
#                                   (default build/release/bin)
# Environment:
#   QUICK=1        one run per cell and short durations (whole suite well under 3 minutes)
#   RUNS=N         runs per cell (default 3, QUICK 1)
#   PROXIES="..."  subset of "floor wsgate nginx haproxy" (default all four)
#   SCENARIOS=".." subset of "1 2 3 4 5 6" (default all)
#   NO_DOC=1       do not touch docs/; KEEP=1 keep the temporary directory
#   PROXY_CPU / LOAD_CPU   CPUs for the proxy and for wsgate-bench + wsgate-echo (0 / 1)
#
# Placement: the proxy under test is pinned to PROXY_CPU, wsgate-bench and wsgate-echo to
# LOAD_CPU, everything on 127.0.0.1. Every proxy is started fresh for every run (so that the
# idle-memory figure starts from a fresh process and no run inherits another's state), and the
# proxies take turns run by run, so that noise from other work on the machine spreads over
# all of them instead of landing on one. Every process started here is in its own process
# group and is stopped at the end, also on Ctrl-C.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(cd "${1:-$root/build/release/bin}" && pwd)
report="/usr/bin/python3 $root/bench/report.py"
for p in wsgate wsgate-echo wsgate-bench wsgate-floor; do
	[ -x "$bin/$p" ] || { echo "bench: $bin/$p not found (run make release)" >&2; exit 2; }
done

QUICK=${QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=""
if [ -n "$QUICK" ]; then
	RUNS=${RUNS:-1}; DUR=3s; WARM=1s; CHURN_DUR=3s; IDLE_HOLD=4s
else
	RUNS=${RUNS:-3}; DUR=8s; WARM=1s; CHURN_DUR=10s; IDLE_HOLD=5s
fi
PROXIES=${PROXIES:-floor wsgate nginx haproxy}
SCENARIOS=${SCENARIOS:-1 2 3 4 5 6}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: only $(nproc) CPU: proxy and load share it, figures mean little" >&2
	PROXY_CPU=0 LOAD_CPU=0
fi

# ---------------------------------------------------------------- Debian packages
# gnuplot-nox is Debian's gnuplot without X11/Qt; it has the pngcairo terminal.
sudo_cmd=()
[ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
need=()
command -v nginx >/dev/null || need+=(nginx)
command -v haproxy >/dev/null || need+=(haproxy)
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
command -v taskset >/dev/null || need+=(util-linux)
command -v pgrep >/dev/null || need+=(procps)
command -v curl >/dev/null || need+=(curl)
[ -x /usr/bin/python3 ] || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench: installing Debian packages: ${need[*]}"
	"${sudo_cmd[@]}" apt-get update -qq
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# ---------------------------------------------------------------- processes and cleanup
# Proxies need two sockets per proxied connection: take the whole hard limit.
ulimit -n "$(ulimit -Hn)"
fd_hard=$(ulimit -Hn)

tmp=$(mktemp -d /tmp/wsgate-bench.XXXXXX)
chmod 755 "$tmp"
mkdir -p "$tmp/logs" "$tmp/nginx" "$root/build/bench"
declare -A live=() # process group id -> 1 while we own it

# group_alive, stop_group, start_group, pick_port, wait_port, cpu_ticks, rss_kb, fd_count
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

cleanup() {
	trap - INT TERM EXIT
	local pg
	for pg in "${!live[@]}"; do stop_group "$pg"; done
	if [ -n "${KEEP:-}" ]; then echo "bench: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'echo "bench: interrupted, stopping everything" >&2; exit 130' INT TERM

# make_report: Markdown into docs/BENCHMARKS.md and the charts, from the files of the last run
# kept in build/bench/ (results.jsonl, info.txt, nginx.conf, haproxy.cfg).
saved="$root/build/bench"
make_report() {
	local doc="$root/docs/BENCHMARKS.md" plots="$root/docs/bench"
	if [ -n "${NO_DOC:-}" ]; then doc="$tmp/BENCHMARKS.md" plots="$tmp/plots"; fi
	mkdir -p "$plots"
	$report report --raw "$saved/results.jsonl" --info "$saved/info.txt" \
		--nginx-conf "$saved/nginx.conf" --haproxy-conf "$saved/haproxy.cfg" \
		--data-dir "$tmp" --plots-dir "$plots" --doc "$doc"
	gnuplot "$tmp/charts.gp"
	echo "bench: results in ${doc#"$root"/} and ${plots#"$root"/}/{latency,cpu}.png" \
		"(raw: ${saved#"$root"/}/results.jsonl)"
}
# REPORT_ONLY=1: redo the report of the last run (after changing bench/report.py), measure nothing.
if [ -n "${REPORT_ONLY:-}" ]; then
	make_report
	exit 0
fi

# ---------------------------------------------------------------- configuration
echo_port=$(pick_port)
declare -A port=([wsgate]=$(pick_port) [nginx]=$(pick_port) [haproxy]=$(pick_port)
	[floor]=$(pick_port))
admin_port=$(pick_port)
conns_cap=$((fd_hard < 65536 ? fd_hard : 65536))

# 10,000 idle connections need 20,000 sockets in the proxy plus its listeners and internal
# fds; with a 20,000 hard limit that cannot be had, so the idle scenario then uses 9,000.
if [ "$fd_hard" -ge 20100 ]; then IDLE_CONNS=10000; else IDLE_CONNS=9000; fi

cat >"$tmp/nginx/nginx.conf" <<EOF
# generated by bench/run.sh
worker_processes 1;
worker_rlimit_nofile $fd_hard;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log error;
events {
    worker_connections $conns_cap;
}
http {
    access_log off;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:${port[nginx]};
        location / {
            proxy_pass http://127.0.0.1:$echo_port;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
EOF

# HAProxy computes the fds it needs from maxconn (2 per connection) and by default refuses to
# start when it cannot raise its limit that far; 'no strict-limits' lets it run with the
# hard limit it has, as nginx does with worker_rlimit_nofile.
cat >"$tmp/haproxy.cfg" <<EOF
# generated by bench/run.sh
global
    nbthread 1
    maxconn 100000
    no strict-limits
defaults
    mode http
    maxconn 100000
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
frontend fe
    bind 127.0.0.1:${port[haproxy]}
    default_backend echo
backend echo
    server echo1 127.0.0.1:$echo_port
EOF

wsgate_cmd=("$bin/wsgate" --workers 1 --listen "127.0.0.1:${port[wsgate]}"
	--admin "127.0.0.1:$admin_port" --route "/=ws://127.0.0.1:$echo_port"
	--idle-timeout 1h --ping-interval 0 --health-interval 0 --drain-timeout 2s
	--log-level warn)
nginx_cmd=(nginx -p "$tmp/nginx/" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf")
haproxy_cmd=(haproxy -db -f "$tmp/haproxy.cfg")
# One thread, like the others; pinned the same way.
floor_cmd=("$bin/wsgate-floor" --listen "127.0.0.1:${port[floor]}" --backend "127.0.0.1:$echo_port")
echo_cmd=("$bin/wsgate-echo" --listen "127.0.0.1:$echo_port" --workers 1)
bench_cmd=("$bin/wsgate-bench" -t 1 -q --json)

declare -A sc_name sc_args
sc_name[1]="100 conns, 64 B, pipeline 1"
sc_args[1]="-c 100 -s 64 -p 1 --warmup $WARM -d $DUR"
sc_name[2]="100 conns, 64 B, pipeline 16"
sc_args[2]="-c 100 -s 64 -p 16 --warmup $WARM -d $DUR"
sc_name[3]="10 conns, 64 KiB, pipeline 4"
sc_args[3]="-c 10 -s 64k -p 4 --warmup $WARM -d $DUR"
sc_name[4]="1,000 conns, 20,000 msgs/s total"
sc_args[4]="-c 1000 -s 64 --rate 20000 --warmup $WARM -d $DUR"
sc_name[5]="${IDLE_CONNS/%000/,000} idle conns"
sc_args[5]="-c $IDLE_CONNS --idle -d $IDLE_HOLD"
sc_name[6]="churn: connect, 1 message, close (50 at a time)"
sc_args[6]="-c 50 -s 64 --churn -d $CHURN_DUR"

start_proxy() { # NAME: start it fresh, wait until it accepts; sets PG and PORT
	local name=$1 tag=$2
	case $name in
	wsgate) start_group "$tag" "$PROXY_CPU" "${wsgate_cmd[@]}" ;;
	nginx) start_group "$tag" "$PROXY_CPU" "${nginx_cmd[@]}" ;;
	haproxy) start_group "$tag" "$PROXY_CPU" "${haproxy_cmd[@]}" ;;
	floor) start_group "$tag" "$PROXY_CPU" "${floor_cmd[@]}" ;;
	esac
	PG=$STARTED
	PORT=${port[$name]}
	if ! wait_port "$PORT" "$PG"; then
		echo "bench: $name did not start; its stderr:" >&2
		tail -n 20 "$tmp/logs/$tag.err" >&2 || true
		return 1
	fi
	if [ "$name" = wsgate ]; then
		local i
		for i in $(seq 100); do
			curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
			sleep 0.05
		done
	fi
}

raw="$tmp/raw.jsonl"
: >"$raw"

# run_case SCENARIO PROXY RUN: one measured run; appends one JSON line to $raw.
run_case() {
	local sc=$1 proxy=$2 run=$3 tag="$2-s$1-r$3" rc=0 alive=1 rss0 rss1=0 c0 c1 e0 e1 t0 t1
	local url pg
	# shellcheck disable=SC2206
	local args=(${sc_args[$sc]})
	if [ "$proxy" = direct ]; then
		pg=$echo_pg
		url="ws://127.0.0.1:$echo_port/"
	else
		start_proxy "$proxy" "$tag" || {
			$report record sc="$sc" proxy="$proxy" run="$run" bench_rc=-1 alive=0 \
				--proxy-err "$tmp/logs/$tag.err" >>"$raw"
			[ -n "${live[$PG]:-}" ] && stop_group "$PG"
			return 0
		}
		pg=$PG
		url="ws://127.0.0.1:$PORT/"
	fi
	group_alive "$echo_pg" || { echo "bench: wsgate-echo died; its stderr:" >&2; \
		tail -n 20 "$tmp/logs/echo.err" >&2; exit 1; }
	printf 'bench: scenario %s (%s), %-8s run %s/%s ... ' "$sc" "${sc_name[$sc]}" "$proxy" \
		"$run" "$RUNS"
	rss0=$(rss_kb "$pg")
	local fds0
	fds0=$(fd_count "$pg")
	c0=$(cpu_ticks "$pg")
	e0=$(cpu_ticks "$echo_pg")
	t0=$(date +%s.%N)
	if [ "$sc" = 5 ]; then
		# Hold the connections open; once the proxy has both sockets of each, let it settle
		# a second and take its RSS.
		taskset -c "$LOAD_CPU" "${bench_cmd[@]}" "${args[@]}" "$url" \
			>"$tmp/logs/$tag.bench.json" 2>"$tmp/logs/$tag.bench.err" &
		local bpid=$! want i
		if [ "$proxy" = direct ]; then want=$((fds0 + IDLE_CONNS)); else want=$((fds0 + 2 * IDLE_CONNS)); fi
		for i in $(seq 600); do
			[ "$(fd_count "$pg")" -ge "$want" ] && break
			kill -0 "$bpid" 2>/dev/null || break
			sleep 0.1
		done
		sleep 1
		rss1=$(rss_kb "$pg")
		wait "$bpid" || rc=$?
	else
		taskset -c "$LOAD_CPU" "${bench_cmd[@]}" "${args[@]}" "$url" \
			>"$tmp/logs/$tag.bench.json" 2>"$tmp/logs/$tag.bench.err" || rc=$?
	fi
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$pg")
	e1=$(cpu_ticks "$echo_pg")
	group_alive "$pg" || alive=0
	# wsgate's own loop histograms (wsgate_loop_turn_seconds, wsgate_relay_delay_seconds),
	# read after the load, before the stop: the report shows them per scenario.
	local metrics=/dev/null
	if [ "$proxy" = wsgate ] && [ "$alive" = 1 ]; then
		metrics="$tmp/logs/$tag.metrics"
		curl -fs "http://127.0.0.1:$admin_port/metrics" >"$metrics" 2>/dev/null || true
	fi
	[ "$proxy" = direct ] || stop_group "$pg"
	$report record sc="$sc" proxy="$proxy" run="$run" bench_rc="$rc" alive="$alive" \
		cpu_ticks=$((c1 - c0)) echo_cpu_ticks=$((e1 - e0)) clk_tck="$(getconf CLK_TCK)" \
		rss_before_kb="$rss0" rss_with_kb="$rss1" t_start="$t0" t_end="$t1" \
		bench_args="${args[*]}" \
		--bench "$tmp/logs/$tag.bench.json" --bench-err "$tmp/logs/$tag.bench.err" \
		--proxy-err "$tmp/logs/$tag.err" --metrics "$metrics" >>"$raw"
	tail -n 1 "$raw" | $report brief
	if [ "$rc" != 0 ] || [ "$alive" = 0 ]; then
		echo "bench:   wsgate-bench exit $rc, proxy alive=$alive; bench stderr:" >&2
		tail -n 5 "$tmp/logs/$tag.bench.err" >&2 || true
		echo "bench:   proxy stderr tail:" >&2
		tail -n 10 "$tmp/logs/$tag.err" >&2 2>/dev/null || true
	fi
}

# ---------------------------------------------------------------- run
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The binaries were built from this tree just now (make bench depends on release).
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
# Uncommitted changes to the gateway's own sources (not to docs or this script) are worth saying.
git -C "$root" diff --quiet HEAD -- core proto router auth tls CMakeLists.txt 2>/dev/null ||
	git_rev="$git_rev, with uncommitted changes to the gateway's sources"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_begin=$(date +%s)
start_group echo "$LOAD_CPU" "${echo_cmd[@]}"
echo_pg=$STARTED
wait_port "$echo_port" "$echo_pg" || { echo "bench: wsgate-echo did not start" >&2; \
	cat "$tmp/logs/echo.err" >&2; exit 1; }

echo "bench: $RUNS run(s) per cell${QUICK:+ (QUICK)}; proxies on CPU $PROXY_CPU, load on CPU $LOAD_CPU"
for sc in $SCENARIOS; do
	for run in $(seq "$RUNS"); do
		# Direct to wsgate-echo, no proxy: the baseline of scenarios 1 and 2.
		case $sc in 1 | 2) run_case "$sc" direct "$run" ;; esac
		for proxy in $PROXIES; do run_case "$sc" "$proxy" "$run"; done
	done
done
stop_group "$echo_pg"
elapsed=$(($(date +%s) - t_begin))

# ---------------------------------------------------------------- report
cp "$raw" "$saved/results.jsonl"
cpu_model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
{
	echo "started=$started"
	echo "elapsed_s=$elapsed"
	echo "quick=${QUICK:-0}"
	echo "runs=$RUNS"
	echo "dur=$DUR"
	echo "warm=$WARM"
	echo "churn_dur=$CHURN_DUR"
	echo "idle_hold=$IDLE_HOLD"
	echo "idle_conns=$IDLE_CONNS"
	echo "fd_hard=$fd_hard"
	echo "cpu_model=$cpu_model"
	echo "nproc=$(nproc)"
	echo "kernel=$(uname -sr)"
	echo "load_start=$load_start"
	echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "proxy_cpu=$PROXY_CPU"
	echo "load_cpu=$LOAD_CPU"
	echo "wsgate_version=$("$bin/wsgate" --version 2>&1 | head -n 1) (git $git_rev)"
	echo "bench_version=$("$bin/wsgate-bench" --version 2>&1 | head -n 1)"
	echo "nginx_version=$(nginx -v 2>&1 | head -n 1)"
	echo "haproxy_version=$(haproxy -v 2>&1 | head -n 1 | sed 's/ - https.*//')"
	echo "gnuplot_version=$(gnuplot --version 2>&1 | head -n 1)"
	for sc in 1 2 3 4 5 6; do echo "sc_name_$sc=${sc_name[$sc]}"; echo "sc_args_$sc=${sc_args[$sc]}"; done
	echo "cmd_wsgate=taskset -c $PROXY_CPU ${wsgate_cmd[*]}"
	echo "cmd_nginx=taskset -c $PROXY_CPU ${nginx_cmd[*]}"
	echo "cmd_haproxy=taskset -c $PROXY_CPU ${haproxy_cmd[*]}"
	echo "cmd_floor=taskset -c $PROXY_CPU ${floor_cmd[*]}"
	echo "cmd_echo=taskset -c $LOAD_CPU ${echo_cmd[*]}"
	echo "cmd_bench=taskset -c $LOAD_CPU ${bench_cmd[*]}"
} | sed "s#$tmp#\$TMP#g; s#$root/##g" >"$saved/info.txt"
sed "s#$tmp#\$TMP#g" "$tmp/nginx/nginx.conf" >"$saved/nginx.conf"
sed "s#$tmp#\$TMP#g" "$tmp/haproxy.cfg" >"$saved/haproxy.cfg"
echo "bench: measured in ${elapsed}s"
make_report
