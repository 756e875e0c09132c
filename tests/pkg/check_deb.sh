#!/bin/bash
# tests/pkg/check_deb.sh DIR: the .debs `make deb` left in DIR, installed into a scratch root
# with dpkg --root (maintainer scripts run chrootless, so that the sysusers snippet creates the
# wsgate user in the scratch root's /etc/passwd, not the host's), then checked: every file
# lands where docs/OPERATIONS.md says, the config is a conffile, the unit is the one in
# debian/, and the installed wsgate accepts the installed config.
set -euo pipefail
dir=${1:?usage: check_deb.sh DIR}
ver=$(dpkg-parsechangelog -l debian/changelog -S Version)
main=$dir/wsgate_${ver}_amd64.deb
tools=$dir/wsgate-tools_${ver}_amd64.deb
fail() { echo "check_deb: FAIL: $*" >&2; exit 1; }
[ -f "$main" ] || fail "$main missing"
[ -f "$tools" ] || fail "$tools missing"

root=$(mktemp -d /tmp/wsgate-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$root/etc"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
# A minimal account database for systemd-sysusers --root to add to.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nadm:x:4:\n' >"$root/etc/group"
# The dependencies (libc6, libwolfssl, ...) are the host's, not the scratch root's, and
# deb-systemd-invoke has no systemd to talk to: both are expected, hence --force-depends.
dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root \
	--log=/dev/null -i "$main" "$tools" >"$root.log" 2>&1 || {
	cat "$root.log" >&2
	fail "dpkg -i into $root"
}

for f in /usr/sbin/wsgate /usr/bin/wsgate-bench /usr/bin/wsgate-echo /etc/wsgate/wsgate.json \
	/lib/systemd/system/wsgate.service /usr/lib/sysusers.d/wsgate.conf \
	/etc/logrotate.d/wsgate /usr/share/bash-completion/completions/wsgate \
	/usr/share/man/man8/wsgate.8.gz /usr/share/man/man1/wsgate-bench.1.gz \
	/usr/share/man/man1/wsgate-echo.1.gz /usr/share/doc/wsgate/copyright \
	/usr/share/doc/wsgate/wsgate.json /usr/share/doc/wsgate-tools/copyright; do
	[ -e "$root$f" ] || fail "$f not installed"
	echo "ok $f"
done
[ -x "$root/usr/sbin/wsgate" ] || fail "/usr/sbin/wsgate not executable"
dpkg-query --root="$root" -W -f='${Conffiles}\n' wsgate | grep -q ' /etc/wsgate/wsgate.json ' ||
	fail "/etc/wsgate/wsgate.json is not a conffile"
echo "ok /etc/wsgate/wsgate.json is a conffile"
cmp -s debian/wsgate.service "$root/lib/systemd/system/wsgate.service" ||
	fail "the installed unit differs from debian/wsgate.service"
grep -q '^wsgate:' "$root/etc/passwd" || fail "postinst did not create the wsgate user"
echo "ok wsgate user: $(grep '^wsgate:' "$root/etc/passwd")"
"$root/usr/sbin/wsgate" --version | grep -qx "wsgate $ver" || fail "wsgate --version"
"$root/usr/sbin/wsgate" --check-config --config "$root/etc/wsgate/wsgate.json" >/dev/null ||
	fail "the installed wsgate refuses the installed /etc/wsgate/wsgate.json"
echo "ok wsgate --check-config --config /etc/wsgate/wsgate.json"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze security --offline=true --root="$root" wsgate.service 2>/dev/null |
		grep 'Overall exposure' || true
fi
dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root \
	--log=/dev/null --purge wsgate wsgate-tools >>"$root.log" 2>&1 || {
	cat "$root.log" >&2
	fail "dpkg --purge"
}
[ ! -e "$root/usr/sbin/wsgate" ] && [ ! -e "$root/etc/wsgate/wsgate.json" ] ||
	fail "purge left files behind"
echo "ok purge removes /usr/sbin/wsgate and the conffile"
rm -f "$root.log"
echo "check_deb: all good ($main, $tools)"
