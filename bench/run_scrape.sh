#!/usr/bin/env bash
# bench/run_scrape.sh: what GET /metrics costs (issue 10, docs/BENCHMARKS.md "Metrics").
#
#   bench/run_scrape.sh [BIN_DIR]   BIN_DIR holds wsgate, wsgate-echo, wsgate-bench
#                                   (default build/release/bin)
# Environment:
#   QUICK=1      one run per cell, 3 s each (about a minute in all)
#   RUNS=N       runs per cell (default 3, QUICK 1)
#   IDLE_CONNS=N open connections for the scrape-time part (default 9000)
#   BASE_BIN=DIR a wsgate built from an earlier commit: also measured, not scraped, in the same
#                rotation (the cost of the counters themselves, before/after)
#   PROXY_CPU / LOAD_CPU   CPUs for wsgate and for wsgate-bench + wsgate-echo + curl (0 / 1)
#
# Two measurements, printed as a Markdown table (nothing in docs/ is touched):
# 1. CPU per message of wsgate (one worker, pinned) at 100 connections, 64 B, pipeline 1 and
#    16, with /metrics scraped every second by curl against not scraped at all. Fresh
#    gateway per run; the two modes take turns run by run so machine noise spreads over
#    both. CPU is utime+stime of the gateway's process group over the whole wsgate-bench run
#    divided by every message echoed (as bench/report.py does for `make bench`).
# 2. The time of one scrape (curl's time_total, median and max of 20) with IDLE_CONNS
#    connections open through the gateway, and with none.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(cd "${1:-$root/build/release/bin}" && pwd)
for p in wsgate wsgate-echo wsgate-bench; do
	[ -x "$bin/$p" ] || { echo "bench: $bin/$p not found (run make release)" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "bench: curl is needed" >&2; exit 2; }

QUICK=${QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=""
if [ -n "$QUICK" ]; then RUNS=${RUNS:-1}; DUR=3s; else RUNS=${RUNS:-3}; DUR=8s; fi
WARM=1s
IDLE_CONNS=${IDLE_CONNS:-9000}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
[ "$(nproc)" -ge 2 ] || { PROXY_CPU=0 LOAD_CPU=0; }

ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d /tmp/wsgate-scrape.XXXXXX)
mkdir -p "$tmp/logs"
declare -A live=()
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_traps

echo_port=$(pick_port)
gw_port=$(pick_port)
admin_port=$(pick_port)
clk=$(getconf CLK_TCK)
start_group echo "$LOAD_CPU" "$bin/wsgate-echo" --listen "127.0.0.1:$echo_port" --workers 1
echo_pg=$STARTED
wait_port "$echo_port" "$echo_pg" || { echo "bench: wsgate-echo did not start" >&2; exit 1; }

start_gw() { # TAG [BIN]: a fresh gateway, ready; sets GW
	start_group "$1" "$PROXY_CPU" "${2:-$bin}/wsgate" --workers 1 --listen "127.0.0.1:$gw_port" \
		--admin "127.0.0.1:$admin_port" --route "/=ws://127.0.0.1:$echo_port" \
		--idle-timeout 1h --ping-interval 0 --drain-timeout 2s --log-level warn
	GW=$STARTED
	wait_port "$gw_port" "$GW" || { echo "bench: wsgate did not start" >&2; \
		tail -n 20 "$tmp/logs/$1.err" >&2; exit 1; }
	local i
	for i in $(seq 100); do
		curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
}

# One scrape a second for as long as it runs (its own process group, on the load CPU).
start_scraper() {
	start_group scraper "$LOAD_CPU" bash -c \
		"while :; do curl -s -o /dev/null http://127.0.0.1:$admin_port/metrics; sleep 1; done"
	SCRAPER=$STARTED
}

# run_cpu PIPELINE MODE RUN: writes "cpu_us_per_msg msgs_per_s metrics_bytes" to $tmp/res
# (not printed: a command substitution would run it in a subshell, out of reach of cleanup).
run_cpu() {
	local p=$1 mode=$2 tag="cpu-p$1-$2-r$3" c0 c1 s0 s1 gbin=$bin
	[ "$mode" != base ] || gbin=$BASE_BIN
	start_gw "$tag" "$gbin"
	s0=$(curl -s "http://127.0.0.1:$admin_port/metrics" | wc -c)
	if [ "$mode" = on ]; then start_scraper; fi
	c0=$(cpu_ticks "$GW")
	taskset -c "$LOAD_CPU" "$bin/wsgate-bench" -t 1 -q --json -c 100 -s 64 -p "$p" \
		--warmup "$WARM" -d "$DUR" "ws://127.0.0.1:$gw_port/" >"$tmp/logs/$tag.json" \
		2>"$tmp/logs/$tag.bench.err"
	c1=$(cpu_ticks "$GW")
	if [ "$mode" = on ]; then stop_group "$SCRAPER"; fi
	stop_group "$GW"
	/usr/bin/python3 - "$tmp/logs/$tag.json" $((c1 - c0)) "$clk" "$s0" >"$tmp/res" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
ticks, clk, size = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = b["messages"]["received_total"]
print("%.3f %.0f %d" % (ticks / clk * 1e6 / n if n else float("nan"), b["messages"]["per_s"], size))
PY
}

echo "bench: CPU per message, /metrics scraped every 1 s vs not; $RUNS run(s) of $DUR" >&2
declare -A acc=()
for p in 1 16; do
	for run in $(seq "$RUNS"); do
		for mode in ${BASE_BIN:+base} off on; do
			run_cpu "$p" "$mode" "$run"
			read -r cpu rate size <"$tmp/res"
			echo "bench:   pipeline $p, scrape $mode, run $run: $cpu us/msg, $rate msg/s" >&2
			acc[$p-$mode]="${acc[$p-$mode]:-} $cpu"
			acc[$p-$mode-rate]="${acc[$p-$mode-rate]:-} $rate"
			acc[size]=$size
		done
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

scrape_times() { # prints "median_ms max_ms" of 20 scrapes
	local i
	for i in $(seq 20); do
		curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$admin_port/metrics"
	done | sort -g | awk '{a[NR]=$1} END {printf "%.3f %.3f\n", a[10] * 1000, a[NR] * 1000}'
}

echo "bench: scrape time with 0 and $IDLE_CONNS open connections" >&2
start_gw scrape
read -r t0_med t0_max < <(scrape_times)
taskset -c "$LOAD_CPU" "$bin/wsgate-bench" -t 1 -q --json -c "$IDLE_CONNS" --idle -d 120s \
	"ws://127.0.0.1:$gw_port/" >"$tmp/logs/idle.json" 2>"$tmp/logs/idle.err" &
bpid=$!
open=0
for i in $(seq 600); do
	open=$(curl -s "http://127.0.0.1:$admin_port/metrics" |
		awk '$1 == "wsgate_connections_active" {print $2}')
	[ "${open:-0}" -ge "$IDLE_CONNS" ] && break
	kill -0 "$bpid" 2>/dev/null || break
	sleep 0.1
done
read -r tn_med tn_max < <(scrape_times)
kill "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true
stop_group "$GW"

base_h="" base_s="" b1="" b1r="" b16="" b16r=""
if [ -n "${BASE_BIN:-}" ]; then
	base_h=" base, not scraped |" base_s=" ---: |"
	b1=" $(echo "${acc[1-base]}" | median) µs |" b1r=" $(echo "${acc[1-base-rate]}" | median) |"
	b16=" $(echo "${acc[16-base]}" | median) µs |" b16r=" $(echo "${acc[16-base-rate]}" | median) |"
fi
cat <<EOF
| wsgate, 1 worker, 100 conns, 64 B |$base_h not scraped | scraped every 1 s |
| --- |$base_s ---: | ---: |
| pipeline 1: CPU per message |$b1 $(echo "${acc[1-off]}" | median) µs | $(echo "${acc[1-on]}" | median) µs |
| pipeline 1: messages/s |$b1r $(echo "${acc[1-off-rate]}" | median) | $(echo "${acc[1-on-rate]}" | median) |
| pipeline 16: CPU per message |$b16 $(echo "${acc[16-off]}" | median) µs | $(echo "${acc[16-on]}" | median) µs |
| pipeline 16: messages/s |$b16r $(echo "${acc[16-off-rate]}" | median) | $(echo "${acc[16-on-rate]}" | median) |

| one GET /metrics (${acc[size]} bytes) | median | max (of 20) |
| --- | ---: | ---: |
| no connection open | $t0_med ms | $t0_max ms |
| $open connections open | $tn_med ms | $tn_max ms |

Medians of $RUNS run(s) of $DUR after a $WARM warm-up; wsgate on CPU $PROXY_CPU, load on CPU $LOAD_CPU.
EOF
