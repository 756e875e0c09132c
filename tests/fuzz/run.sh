#!/usr/bin/env bash
# Runs every libFuzzer binary fuzz_* in BIN_DIR for SECONDS each (make fuzz), then reports per
# target whether it passed or crashed; exits non-zero when any target crashed.
#
# Each target gets its dictionary (tests/fuzz/<target>.dict) when there is one, and a scratch
# corpus under build/fuzz-corpus/<target>/ seeded from the committed corpus
# (tests/fuzz/corpus/<target>/). New inputs go to the scratch dir only: the committed corpus
# stays small and minimised by hand. Crash reproducers land in build/fuzz-artifacts/<target>/.
set -uo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 BIN_DIR SECONDS" >&2
	exit 2
fi
bin_dir=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch_root=$root/build/fuzz-corpus
artifacts_root=$root/build/fuzz-artifacts

shopt -s nullglob
targets=("$bin_dir"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
	echo "run.sh: no fuzz_* binaries in $bin_dir" >&2
	exit 2
fi

failed=0
report=()
for bin in "${targets[@]}"; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	target=${name#fuzz_}
	scratch=$scratch_root/$target
	artifacts=$artifacts_root/$target
	mkdir -p "$scratch" "$artifacts"
	if [ -d "$here/corpus/$target" ]; then
		cp -n "$here/corpus/$target"/* "$scratch"/ 2>/dev/null || true
	fi
	args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/")
	if [ -f "$here/$target.dict" ]; then
		args+=(-dict="$here/$target.dict")
	fi
	log=$artifacts_root/$target.log
	echo "== $name: ${seconds}s, corpus $scratch"
	if "$bin" "${args[@]}" "$scratch" >"$log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
		report+=("pass   $name (${runs:-?} runs)")
	else
		failed=1
		report+=("CRASH  $name (log: $log, reproducers: $artifacts/)")
		tail -n 30 "$log"
	fi
done

echo
echo "fuzz summary:"
printf '  %s\n' "${report[@]}"
exit $failed
