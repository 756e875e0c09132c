#!/usr/bin/env bash
# Fails, naming the files, when any tracked-or-new C file differs from clang-format's output.
set -euo pipefail
cf=${1:-clang-format}
bad=0
while IFS= read -r -d '' f; do
	if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not clang-formatted: $f"
		bad=1
	fi
done < <(find core proto tls router auth bench tests -name '*.[ch]' -print0)
exit $bad
