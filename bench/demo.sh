#!/usr/bin/env bash
# make run: two wsgate-echo backends and wsgate on 127.0.0.1:8080 (and TLS on 127.0.0.1:8443,
# with a self-signed certificate made on the first run and kept under build/demo-tls/)
# routing / to both. Ctrl-C (or SIGTERM) stops all three.
set -euo pipefail
bin=${1:-build/release/bin}

# The first port from $1 up (ten tries) that nothing on this machine holds: Debian's
# prometheus package (installed by make test for promtool) starts a server on :9090, the
# admin's usual port, and a developer may run anything on 8080. A port asked for with the
# WSG_DEMO_* variables is taken as it is.
free_port() {
	local p
	for p in $(seq "$1" $(($1 + 9))); do
		if /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "$1"
}
port=${WSG_DEMO_PORT:-$(free_port 8080)}
admin=${WSG_DEMO_ADMIN:-$(free_port 9090)}
tport=${WSG_DEMO_TLS_PORT:-$(free_port 8443)}
e1=$(free_port 9001)
e2=$(free_port $((e1 + 1)))
tls=build/demo-tls
pids=()
stop() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped."
}
trap stop INT TERM EXIT

# A throwaway self-signed certificate for localhost, made once (never committed).
if [ ! -s "$tls/cert.pem" ] || [ ! -s "$tls/key.pem" ]; then
	mkdir -p "$tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
		-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null
	chmod 600 "$tls/key.pem"
fi

"$bin/wsgate-echo" --listen "127.0.0.1:$e1" --workers 1 & pids+=($!)
"$bin/wsgate-echo" --listen "127.0.0.1:$e2" --workers 1 & pids+=($!)
"$bin/wsgate" --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" \
	--tls-listen "127.0.0.1:$tport" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem" \
	--route "/=ws://127.0.0.1:$e1,ws://127.0.0.1:$e2" & pids+=($!)

ready=
for _ in $(seq 1 50); do
	curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && { ready=1; break; }
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "wsgate did not become ready on 127.0.0.1:$port (admin 127.0.0.1:$admin): see its" \
		"messages above" >&2
	exit 1
fi
cat <<MSG

wsgate is up on ws://127.0.0.1:$port/ and wss://localhost:$tport/ (self-signed certificate
in $tls/cert.pem; admin on http://127.0.0.1:$admin), routing / to two wsgate-echo backends
(127.0.0.1:$e1 and 127.0.0.1:$e2), round robin.

Try it:
  /usr/bin/python3 -m websockets ws://127.0.0.1:$port/      # type a line, get it back
  openssl s_client -connect 127.0.0.1:$tport -servername localhost -CAfile $tls/cert.pem
  SSL_CERT_FILE=$tls/cert.pem /usr/bin/python3 -m websockets wss://localhost:$tport/
  curl -s http://127.0.0.1:$admin/readyz
$( [ -x "$bin/wsgate-bench" ] && echo "  $bin/wsgate-bench -c 10 -d 5s ws://127.0.0.1:$port/" )

Ctrl-C stops all three.
MSG
wait -n "${pids[@]}" || true
