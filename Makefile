# wsgate: the README's two commands (make run, make test) and the developer targets.
# Every target installs the Debian packages it needs first, so a fresh machine needs nothing
# done by hand.

SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CTEST_ARGS ?=

# Debian packages the build and the test suite use. clang + libclang-rt-14-dev: fuzz build;
# python3-websockets, curl, openssl: integration tests' independent clients; procps: ps/pkill;
# libhiredis-dev: the cluster's RESP reader; redis-server, redis-tools: the cluster tests' engine
# and redis-cli; prometheus: promtool, which tests/integ/test_metrics.py runs on /metrics (Debian's package
# also installs a prometheus service on :9090, the default --admin port; in a container
# policy-rc.d keeps it from starting, elsewhere stop it or pick another --admin); groff-base:
# groff, which tests/integ/test_packaging.py renders the man pages with (-ww -z). systemd-analyze
# (package systemd) is used by that test when present and skipped otherwise.
PACKAGES := build-essential cmake pkg-config liburing-dev libwolfssl-dev libcjson-dev \
	libcmocka-dev clang libclang-rt-14-dev clang-format python3 python3-websockets curl \
	openssl procps prometheus groff-base libhiredis-dev redis-server redis-tools

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps install-packages build release debug asan tsan run cluster-demo test fuzz clean format bench bench-auth bench-push bench-cluster deb

# What `make deb` needs on top of the build: Debian's packaging tools (dpkg-buildpackage is in
# dpkg-dev) and lintian, plus debian/control's Build-Depends.
DEB_PACKAGES := build-essential debhelper dpkg-dev fakeroot lintian cmake pkgconf liburing-dev \
	libwolfssl-dev libcjson-dev libcmocka-dev libhiredis-dev
DEB_VERSION = $(shell sed -n 's/^project.wsgate VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

all: release

deps:
	@$(MAKE) --no-print-directory install-packages PKGS="$(PACKAGES)"

install-packages:
	@missing=$$(for p in $(PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build/%/CMakeCache.txt:
	cmake --preset $* >/dev/null

release debug asan tsan: %: deps build/%/CMakeCache.txt
	cmake --build build/$* -j $(JOBS)
	@[ "$*" != debug ] || ln -sf build/debug/compile_commands.json compile_commands.json

build: release

run: release
	@bench/demo.sh build/release/bin

# Three nodes sharing one redis-server on a loopback port, and a wsgate-echo backend; prints
# how to push across nodes with curl (docs/CLUSTER.md). Ctrl-C stops everything.
cluster-demo: release
	@contrib/cluster/demo.sh build/release/bin

# wsgate beside nginx and HAProxy under the same load (docs/BENCHMARKS.md, "Proxy comparison");
# QUICK=1 for the short version.
bench: release
	QUICK=$(QUICK) bench/run.sh build/release/bin
	@# The same proxies terminating TLS (table in build/bench/tls.md; docs/BENCHMARKS.md
	@# "TLS (issue 8)" quotes a run). TLS=0 skips it.
	@[ "$(TLS)" = 0 ] || QUICK=$(QUICK) bench/run_tls.sh build/release/bin

# What access control costs (docs/BENCHMARKS.md, "Access control (issue 9)"): handshakes with
# --auth off against HS256, ES256 and RS256 tokens, --msg-rate on against off, per-IP table
# memory. Not part of bench; table in build/bench/auth.md. QUICK=1 for the short version.
bench-auth: release
	QUICK=$(QUICK) bench/run_auth.sh build/release/bin

# Push and broadcast through the admin API (docs/BENCHMARKS.md, "Push and broadcast"): 9,000
# idle clients get five broadcasts, one client gets back-to-back pushes. QUICK=1: 1,000.
bench-push: release
	/usr/bin/python3 bench/run_push.py build/release/bin $(if $(QUICK),--quick)

# Cross-node push and broadcast over three nodes and one Redis (docs/BENCHMARKS.md,
# "Cluster"). QUICK=1 for the short version.
bench-cluster: release
	/usr/bin/python3 contrib/cluster/bench_push.py build/release/bin $(if $(QUICK),--quick)

# The release tree is built too: it is what `make run` and `make bench` use, and gcc -O2 warns
# about things -O1 does not see (-Werror), so a green `make test` also means `make run` builds.
test: asan release
	cd build/asan && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

fuzz: deps build/fuzz/CMakeCache.txt
	cmake --build build/fuzz -j $(JOBS)
	@tests/fuzz/run.sh build/fuzz/bin $(FUZZ_SECONDS)

format:
	find core proto tls router auth bench tests -name '*.[ch]' -print0 | xargs -0 -r clang-format -i

# wsgate_$(DEB_VERSION)_amd64.deb and wsgate-tools_..., built by dpkg-buildpackage from a copy
# of the tree (so that nothing lands beside the repository), checked by lintian, then unpacked
# into a scratch root (tests/pkg/check_deb.sh). Results in build/deb/.
deb:
	@$(MAKE) --no-print-directory install-packages PKGS="$(DEB_PACKAGES)"
	rm -rf build/deb && mkdir -p build/deb/wsgate-$(DEB_VERSION)
	tar --exclude=./build --exclude=./.git --exclude=./compile_commands.json -cf - . | \
		tar -C build/deb/wsgate-$(DEB_VERSION) -xf -
	cd build/deb/wsgate-$(DEB_VERSION) && dpkg-buildpackage -us -uc -b -j$(JOBS)
	lintian --info --display-info build/deb/*.changes | tee build/deb/lintian.txt
	@! grep -q '^E:' build/deb/lintian.txt || { echo "lintian reported errors"; exit 1; }
	tests/pkg/check_deb.sh build/deb
	@ls -l build/deb/*.deb

clean:
	rm -rf build compile_commands.json
