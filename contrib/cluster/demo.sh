#!/usr/bin/env bash
# make cluster-demo: redis-server on a loopback port (no persistence), three wsgate nodes (a,
# b, c) sharing it, and one wsgate-echo backend; prints how to push across nodes with curl.
# Ctrl-C (or SIGTERM) stops everything. Ports: WSG_DEMO_REDIS (default 6390), clients on
# 8081-8083, admin on 9091-9093 (WSG_DEMO_BASE_PORT / WSG_DEMO_BASE_ADMIN move them).
set -euo pipefail
bin=${1:-build/release/bin}
redis_port=${WSG_DEMO_REDIS:-6390}
base=${WSG_DEMO_BASE_PORT:-8080}
abase=${WSG_DEMO_BASE_ADMIN:-9090}
echo_port=${WSG_DEMO_ECHO:-9011}
redis=$(command -v redis-server || echo /usr/bin/redis-server)
pids=()
stop() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped."
}
trap stop INT TERM EXIT

"$redis" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
"$bin/wsgate-echo" --listen "127.0.0.1:$echo_port" --workers 1 & pids+=($!)
for _ in $(seq 1 50); do
	redis-cli -p "$redis_port" PING >/dev/null 2>&1 && break
	sleep 0.1
done
i=1
for n in a b c; do
	"$bin/wsgate" --listen "127.0.0.1:$((base + i))" --admin "127.0.0.1:$((abase + i))" \
		--workers 1 --route "/=ws://127.0.0.1:$echo_port" \
		--cluster "redis://127.0.0.1:$redis_port" --node-id "$n" & pids+=($!)
	i=$((i + 1))
done
for _ in $(seq 1 50); do
	curl -fs "http://127.0.0.1:$((abase + 1))/cluster" 2>/dev/null | grep -q '"id":"c"' && break
	sleep 0.1
done
cat <<MSG

Three wsgate nodes share redis://127.0.0.1:$redis_port:
  node a: ws://127.0.0.1:$((base + 1))/  admin http://127.0.0.1:$((abase + 1))
  node b: ws://127.0.0.1:$((base + 2))/  admin http://127.0.0.1:$((abase + 2))
  node c: ws://127.0.0.1:$((base + 3))/  admin http://127.0.0.1:$((abase + 3))
each routing / to wsgate-echo on 127.0.0.1:$echo_port.

Try it:
  /usr/bin/python3 -m websockets ws://127.0.0.1:$((base + 3))/      # a client on node c
  curl -s http://127.0.0.1:$((abase + 1))/cluster                   # the nodes, seen from a
  curl -s 'http://127.0.0.1:$((abase + 1))/connections?scope=cluster'   # every node's clients
  # push from node a to the client on node c (its id is c.N, listed above):
  curl -si -H 'Content-Type: text/plain' --data 'hello from a' \\
       http://127.0.0.1:$((abase + 1))/connections/c.1/messages
  curl -s -H 'Content-Type: text/plain' --data 'to all' \\
       'http://127.0.0.1:$((abase + 2))/broadcast?route=/'             # every node's clients
  curl -si -X DELETE 'http://127.0.0.1:$((abase + 2))/connections/c.1?code=4000&reason=bye'

Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
