# Sourced by the container checks: one way to report sections, passes and the first failure.
#   REPORT=name (the line prefix); REPORT_T0=$(date +%s) to show seconds since the start.
passed=0
elapsed() { [ -n "${REPORT_T0:-}" ] && printf ' (%d s)' "$(($(date +%s) - REPORT_T0))"; true; }
section() { printf '\n%s: == %s%s\n' "$REPORT" "$*" "$(elapsed)"; }
ok() { passed=$((passed + 1)); echo "$REPORT: ok:   $*"; }
fail() {
    echo "$REPORT: FAIL: $*" >&2
    echo "$REPORT: $passed passed, 1 failed$(elapsed)" >&2
    exit 1
}
