#!/usr/bin/env bash
# make run: two wsgate-echo backends and wsgate on 127.0.0.1:8080 routing / to both.
# Ctrl-C (or SIGTERM) stops all three.
set -euo pipefail
bin=${1:-build/release/bin}
port=${WSG_DEMO_PORT:-8080}
admin=${WSG_DEMO_ADMIN:-9090}
pids=()
stop() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped."
}
trap stop INT TERM EXIT

"$bin/wsgate-echo" --listen 127.0.0.1:9001 --workers 1 & pids+=($!)
"$bin/wsgate-echo" --listen 127.0.0.1:9002 --workers 1 & pids+=($!)
"$bin/wsgate" --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" \
	--route '/=ws://127.0.0.1:9001,ws://127.0.0.1:9002' & pids+=($!)

for _ in $(seq 1 50); do
	curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
cat <<MSG

wsgate is up on ws://127.0.0.1:$port/ (admin on http://127.0.0.1:$admin), routing / to two
wsgate-echo backends (127.0.0.1:9001 and 127.0.0.1:9002), round robin.

Try it:
  /usr/bin/python3 -m websockets ws://127.0.0.1:$port/      # type a line, get it back
  curl -s http://127.0.0.1:$admin/readyz
$( [ -x "$bin/wsgate-bench" ] && echo "  $bin/wsgate-bench -c 10 -d 5s ws://127.0.0.1:$port/" )

Ctrl-C stops all three.
MSG
wait -n "${pids[@]}" || true
