#!/usr/bin/env bash
# bench/run_auth.sh: what access control costs wsgate (issue 9, "Measure and record").
# wsgate alone (no nginx or HAProxy here) in front of wsgate-echo, driven by wsgate-bench:
#
#   churn (upgrade, one 64 B message, close; 50 at a time), connections/s and the gateway's
#   CPU per handshake, with
#     off     --auth off, no key
#     hs256   --auth required --jwt-secret-file, an HS256 token
#     es256   --auth required --jwt-public-key (EC P-256), an ES256 token
#     rs256   --auth required --jwt-public-key (RSA 2048), an RS256 token
#   each token sent by wsgate-bench as -H "Authorization: Bearer ..." on every upgrade;
#
#   100 conns, 64 B, pipeline 16, messages/s and the gateway's CPU per message, with
#     --msg-rate off against --msg-rate 1000000/1000000 (on, never reached);
#
#   the per-IP table's memory, from the ev=iplimit line wsgate logs at start when
#   --max-conns-per-ip is set, at the default --max-conns and at --max-conns 1000.
#
# Tokens are minted once per run by tests/integ/jwt_mint.py (keys made with the openssl CLI in
# the temporary directory, never kept), sub "bench", exp a day ahead. CPU is the wsgate
# process's utime+stime from /proc/PID/stat (bench/lib.sh cpu_ticks) read just before and just
# after each wsgate-bench run, divided by the handshakes (churn: conns.opened, every upgrade
# of the run) or by every message echoed; /proc counts in 10 ms ticks.
#
# Placement and process handling as bench/run.sh: wsgate --workers 1 pinned to PROXY_CPU,
# wsgate-bench -t 1 and wsgate-echo --workers 1 to LOAD_CPU, 127.0.0.1 only, wsgate started
# fresh for every run, the cases taking turns run by run (so that noise from other work on the
# machine spreads over all of them), every process group stopped at the end, also on Ctrl-C.
# Not part of `make bench`: `make bench-auth`.
#
#   bench/run_auth.sh [BIN_DIR]     BIN_DIR holds wsgate, wsgate-echo, wsgate-bench
#                                   (default build/release/bin)
# Environment: QUICK=1 (short runs, one per case unless RUNS is set), RUNS=N (default 3),
#   CASES="off hs256 es256 rs256 msg_off msg_on" (default all), KEEP=1, PROXY_CPU / LOAD_CPU.
# The raw per-run JSON lines (bench/report.py record format; "proxy" holds the case) go to
# build/bench/auth.jsonl, the Markdown table to build/bench/auth.md.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(cd "${1:-$root/build/release/bin}" && pwd)
report="/usr/bin/python3 $root/bench/report.py"
for p in wsgate wsgate-echo wsgate-bench; do
	[ -x "$bin/$p" ] || { echo "bench: $bin/$p not found (run make release)" >&2; exit 2; }
done

QUICK=${QUICK:-0}
[ "$QUICK" = 0 ] && QUICK=""
if [ -n "$QUICK" ]; then
	RUNS=${RUNS:-1}; DUR=3s; WARM=1s; CHURN_DUR=3s
else
	RUNS=${RUNS:-3}; DUR=8s; WARM=1s; CHURN_DUR=10s
fi
CASES=${CASES:-off hs256 es256 rs256 msg_off msg_on}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: only $(nproc) CPU: gateway and load share it, figures mean little" >&2
	PROXY_CPU=0 LOAD_CPU=0
fi

# ---------------------------------------------------------------- Debian packages
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_install openssl=openssl taskset=util-linux pgrep=procps curl=curl /usr/bin/python3=python3

# ---------------------------------------------------------------- processes and cleanup
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d /tmp/wsgate-bench-auth.XXXXXX)
mkdir -p "$tmp/logs" "$tmp/keys" "$root/build/bench"
declare -A live=() # process group id -> 1 while we own it

bench_traps

# ---------------------------------------------------------------- keys and tokens (throwaway)
# One token per algorithm, minted once; the gateway verifies the same token on every upgrade
# (it keeps no cache of verified tokens, so each handshake pays the whole verification).
/usr/bin/python3 - "$root/tests/integ" "$tmp/keys" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[1])
from jwt_mint import Keys
ks = Keys(sys.argv[2])
now = int(time.time())
claims = {"sub": "bench", "iat": now, "exp": now + 86400}
for alg in ("HS256", "ES256", "RS256"):
    with open(os.path.join(sys.argv[2], alg + ".jwt"), "w") as f:
        f.write(ks.mint(alg, claims))
PY
tok_hs256=$(cat "$tmp/keys/HS256.jwt")
tok_es256=$(cat "$tmp/keys/ES256.jwt")
tok_rs256=$(cat "$tmp/keys/RS256.jwt")

# ---------------------------------------------------------------- configuration
echo_port=$(pick_port)
gw_port=$(pick_port)
admin_port=$(pick_port)
while [ "$gw_port" = "$echo_port" ]; do gw_port=$(pick_port); done
while [ "$admin_port" = "$echo_port" ] || [ "$admin_port" = "$gw_port" ]; do
	admin_port=$(pick_port)
done

wsgate_base=("$bin/wsgate" --workers 1 --listen "127.0.0.1:$gw_port"
	--admin "127.0.0.1:$admin_port" --route "/=ws://127.0.0.1:$echo_port"
	--idle-timeout 1h --ping-interval 0 --health-interval 0 --drain-timeout 2s)
echo_cmd=("$bin/wsgate-echo" --listen "127.0.0.1:$echo_port" --workers 1)
bench_cmd=("$bin/wsgate-bench" -t 1 -q --json)
churn_args=(-c 50 -s 64 --churn -d "$CHURN_DUR")
msg_args=(-c 100 -s 64 -p 16 --warmup "$WARM" -d "$DUR")

declare -A case_sc case_flags case_token
# sc: bench/report.py's scenario numbers ("6" churn: per connection; "2" messages).
case_sc=([off]=6 [hs256]=6 [es256]=6 [rs256]=6 [msg_off]=2 [msg_on]=2)
case_flags[off]="--auth off"
case_flags[hs256]="--auth required --jwt-secret-file $tmp/keys/secret"
case_flags[es256]="--auth required --jwt-public-key $tmp/keys/ec256.pub"
case_flags[rs256]="--auth required --jwt-public-key $tmp/keys/rsa.pub"
case_flags[msg_off]="--msg-rate off"
case_flags[msg_on]="--msg-rate 1000000/1000000"
case_token=([off]="" [hs256]=$tok_hs256 [es256]=$tok_es256 [rs256]=$tok_rs256 [msg_off]=""
	[msg_on]="")

start_wsgate() { # TAG FLAGS...: start it fresh, wait until it is ready; sets PG
	local tag=$1 _i
	shift
	start_group "$tag" "$PROXY_CPU" "${wsgate_base[@]}" "$@"
	PG=$STARTED
	if ! wait_port "$gw_port" "$PG"; then
		echo "bench: wsgate did not start; its stderr:" >&2
		tail -n 20 "$tmp/logs/$tag.err" >&2 || true
		return 1
	fi
	for _i in $(seq 100); do
		curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
		sleep 0.05
	done
}

raw="$tmp/raw.jsonl"
: >"$raw"

run_case() { # CASE RUN: one measured run; appends one JSON line to $raw
	local cs=$1 run=$2 tag="$1-r$2" rc=0 alive=1 c0 c1 e0 e1 t0 t1 sc=${case_sc[$1]}
	# shellcheck disable=SC2206
	local flags=(${case_flags[$cs]}) args=() hdr=()
	if [ "$sc" = 6 ]; then args=("${churn_args[@]}"); else args=("${msg_args[@]}"); fi
	[ -z "${case_token[$cs]}" ] || hdr=(-H "Authorization: Bearer ${case_token[$cs]}")
	start_wsgate "$tag" --log-level warn "${flags[@]}" || {
		$report record sc="$sc" proxy="$cs" run="$run" bench_rc=-1 alive=0 \
			--proxy-err "$tmp/logs/$tag.err" >>"$raw"
		[ -n "${live[$PG]:-}" ] && stop_group "$PG"
		return 0
	}
	local pg=$PG
	group_alive "$echo_pg" || { echo "bench: wsgate-echo died" >&2; exit 1; }
	printf 'bench: auth %-8s run %s/%s ... ' "$cs" "$run" "$RUNS"
	c0=$(cpu_ticks "$pg")
	e0=$(cpu_ticks "$echo_pg")
	t0=$(date +%s.%N)
	taskset -c "$LOAD_CPU" "${bench_cmd[@]}" "${args[@]}" "${hdr[@]}" "ws://127.0.0.1:$gw_port/" \
		>"$tmp/logs/$tag.bench.json" 2>"$tmp/logs/$tag.bench.err" || rc=$?
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$pg")
	e1=$(cpu_ticks "$echo_pg")
	group_alive "$pg" || alive=0
	stop_group "$pg"
	# bench_args: the flags without the token (the -H value is kept nowhere).
	$report record sc="$sc" proxy="$cs" run="$run" bench_rc="$rc" alive="$alive" \
		cpu_ticks=$((c1 - c0)) echo_cpu_ticks=$((e1 - e0)) clk_tck="$(getconf CLK_TCK)" \
		rss_before_kb=0 rss_with_kb=0 t_start="$t0" t_end="$t1" \
		bench_args="${args[*]}${hdr:+ -H Authorization: Bearer TOKEN}" wsgate_flags="${flags[*]}" \
		--bench "$tmp/logs/$tag.bench.json" --bench-err "$tmp/logs/$tag.bench.err" \
		--proxy-err "$tmp/logs/$tag.err" >>"$raw"
	tail -n 1 "$raw" | $report brief
	if [ "$rc" != 0 ] || [ "$alive" = 0 ]; then
		echo "bench:   wsgate-bench exit $rc, wsgate alive=$alive; bench stderr:" >&2
		tail -n 5 "$tmp/logs/$tag.bench.err" >&2 || true
		tail -n 10 "$tmp/logs/$tag.err" >&2 2>/dev/null || true
	fi
}

# iplimit_case TAG FLAGS...: start wsgate with FLAGS, take its ev=iplimit line, the clients the
# fd limit lets it hold (ev=fd_limit effective_max_conns, when it is below --max-conns) and its
# RSS, stop it; sets IPL_ENT, IPL_BYT ("-" when no line), IPL_EFF ("" when not capped) and
# IPL_RSS (KiB). Not in a subshell, so that the group it starts stays in live for the cleanup
# trap.
iplimit_case() {
	local tag=$1 line="" _i
	shift
	IPL_ENT=- IPL_BYT=- IPL_EFF="" IPL_RSS=0
	start_wsgate "$tag" --log-level info "$@" || return 0
	for _i in $(seq 50); do
		line=$(grep -h 'ev=iplimit' "$tmp/logs/$tag.err" "$tmp/logs/$tag.out" 2>/dev/null |
			head -n 1 || true)
		[ -n "$line" ] && break
		case " $* " in *" --max-conns-per-ip "*) ;; *) break ;; esac # no table, no line
		sleep 0.1
	done
	IPL_RSS=$(rss_kb "$PG")
	stop_group "$PG"
	IPL_EFF=$(grep -h 'ev=fd_limit' "$tmp/logs/$tag.err" "$tmp/logs/$tag.out" 2>/dev/null |
		sed -n 's/.*effective_max_conns=\([0-9]*\).*/\1/p' | head -n 1 || true)
	[ -n "$line" ] || return 0
	IPL_ENT=$(sed -n 's/.*entries=\([0-9]*\).*/\1/p' <<<"$line")
	IPL_BYT=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
}

# ---------------------------------------------------------------- run
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
t_begin=$(date +%s)
start_group echo "$LOAD_CPU" "${echo_cmd[@]}"
echo_pg=$STARTED
wait_port "$echo_port" "$echo_pg" || { echo "bench: wsgate-echo did not start" >&2; \
	cat "$tmp/logs/echo.err" >&2; exit 1; }

echo "bench: auth, $RUNS run(s) per case${QUICK:+ (QUICK)}; wsgate on CPU $PROXY_CPU, load on CPU $LOAD_CPU"
for run in $(seq "$RUNS"); do
	for cs in $CASES; do run_case "$cs" "$run"; done
done
stop_group "$echo_pg"

# The per-IP table needs no traffic: it is allocated whole at start. RSS of a fresh gateway
# without the table, with it at the default --max-conns, and at --max-conns 1000.
# Each beside the same gateway without --max-conns-per-ip (the slabs are sized from
# --max-conns too, so only the same --max-conns compares).
iplimit_case ipl-default-none
rss_def0=$IPL_RSS
iplimit_case ipl-default --max-conns-per-ip 100
ent_def=$IPL_ENT byt_def=$IPL_BYT rss_def=$IPL_RSS eff_def=$IPL_EFF
iplimit_case ipl-1000-none --max-conns 1000
rss_1k0=$IPL_RSS
iplimit_case ipl-1000 --max-conns-per-ip 100 --max-conns 1000
ent_1k=$IPL_ENT byt_1k=$IPL_BYT rss_1k=$IPL_RSS
elapsed=$(($(date +%s) - t_begin))
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cp "$raw" "$root/build/bench/auth.jsonl"

# ---------------------------------------------------------------- table
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- core proto router auth tls CMakeLists.txt 2>/dev/null ||
	git_rev="$git_rev, with uncommitted changes to the gateway's sources"
{
	echo "Access control (bench/run_auth.sh${QUICK:+, QUICK=1}), $started, $RUNS run(s) per case (median, min–max), ${elapsed}s;"
	echo "$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) CPUs, $(uname -sr); load average $load_start at the start, $load_end at the end;"
	echo "wsgate --workers 1 on CPU $PROXY_CPU, wsgate-bench -t 1 + wsgate-echo --workers 1 on CPU $LOAD_CPU; $("$bin/wsgate" --version 2>&1 | head -n 1) (git $git_rev)."
	echo
	/usr/bin/python3 - "$raw" "$root/bench" "$CASES" \
		"${ent_def:--}" "${byt_def:--}" "${rss_def:-0}" "${rss_def0:-0}" "${eff_def:-}" \
		"${ent_1k:--}" "${byt_1k:--}" "${rss_1k:-0}" "${rss_1k0:-0}" "$(ulimit -n)" <<'PY'
import json, statistics, sys
sys.path.insert(0, sys.argv[2])
import report
cases = sys.argv[3].split()
(ent_def, byt_def, rss_def, rss_def0, eff_def, ent_1k, byt_1k, rss_1k, rss_1k0,
 fd_limit) = sys.argv[4:14]
runs = [json.loads(l) for l in open(sys.argv[1])]
names = {
    "off": "`--auth off` (no key)",
    "hs256": "HS256, `--jwt-secret-file`",
    "es256": "ES256 (P-256), `--jwt-public-key`",
    "rs256": "RS256 (RSA 2048), `--jwt-public-key`",
    "msg_off": "`--msg-rate off`",
    "msg_on": "`--msg-rate 1000000/1000000` (on, never reached)",
}
def vals(c, k):
    out, failed = [], 0
    for r in runs:
        if r["proxy"] != c:
            continue
        f = report.figures(r)
        if f is None:
            failed += 1
        elif f.get(k) is not None:
            out.append(f[k])
    return out, failed
def cell(vs, fmt):
    if not vs:
        return "failed"
    m = statistics.median(vs)
    s = fmt(m)
    if len(vs) > 1:
        s += " (%s–%s)" % (fmt(min(vs)), fmt(max(vs)))
    return s
rate = lambda v: "{:,.0f}".format(v)
def cpu(v):
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "{:,.0f}".format(v)
def table(sel, unit, base):
    sel = [c for c in sel if c in cases]
    if not sel:
        return
    print("| case | %s | wsgate CPU µs per %s | CPU − %s's |" % (
        "connections/s" if unit == "handshake" else "messages/s", unit, base.replace("_", " ")))
    print("|---|---:|---:|---:|")
    bcpu = vals(base, "cpu")[0]
    for c in sel:
        rv, f1 = vals(c, "rate")
        cv, _ = vals(c, "cpu")
        d = ""
        if c != base and cv and bcpu:
            d = "%+.2f" % (statistics.median(cv) - statistics.median(bcpu)) if unit == "message" \
                else "%+.0f" % (statistics.median(cv) - statistics.median(bcpu))
        note = " (%d run(s) failed)" % f1 if f1 else ""
        print("| %s%s | %s | %s | %s |" % (names[c], note, cell(rv, rate), cell(cv, cpu), d))
    print()
table(["off", "hs256", "es256", "rs256"], "handshake", "off")
table(["msg_off", "msg_on"], "message", "msg_off")
def n(v):
    return "{:,}".format(int(v)) if v not in ("-", "") else "-"
def per(b, e):
    return "%d" % (int(b) // int(e)) if b not in ("-", "") and e not in ("-", "") else "-"
def drss(r, r0):
    return "{:,}".format(int(r) - int(r0)) if int(r) and int(r0) else "-"
print("| per-IP table (`--max-conns-per-ip 100`) | entries | bytes | bytes per entry | RSS − the same gateway's without it, KiB |")
print("|---|---:|---:|---:|---:|")
dflt = "default `--max-conns` (100000)"
if eff_def:
    dflt += ", held to {:,} clients by the fd limit ({:,})".format(int(eff_def), int(fd_limit))
print("| %s | %s | %s | %s | %s |" % (dflt, n(ent_def), n(byt_def), per(byt_def, ent_def), drss(rss_def, rss_def0)))
print("| `--max-conns 1000` | %s | %s | %s | %s |" % (n(ent_1k), n(byt_1k), per(byt_1k, ent_1k), drss(rss_1k, rss_1k0)))
PY
} | tee "$root/build/bench/auth.md"
