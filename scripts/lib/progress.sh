# Sourced by scripts/setup.sh, scripts/run-tests.sh and scripts/vm/build-image.sh: long steps say
# what runs and that they still run. `step NAME CMD...` prints "NAME ..." and runs CMD (a command
# or a shell function); while it runs, a TTY gets one progress line rewritten in place (elapsed
# seconds), anything else (CI logs, a parent that reads the lines) a plain line every 30 s; at the
# end "NAME: done in N s" or "NAME: FAILED after N s". The command's own output is left alone
# (STEP_LOG=FILE sends it to FILE instead, shown on failure). STEP_STATUS=FUNCTION adds what that
# shell function prints (one short line, e.g. the last line of a log) to each progress line.
step() {
  local name=$1 start=$SECONDS ticker rc
  shift
  echo "$name ..."
  (
    # the ticker stops by itself when the shell that started it is gone
    parent=$$
    while sleep 1 && kill -0 "$parent" 2>/dev/null; do
      t=$((SECONDS - start))
      if [ -t 1 ]; then
        status=${STEP_STATUS:+$("$STEP_STATUS" 2>/dev/null | cut -c1-60 || true)}
        printf '\r\033[K  %s: %d s %s' "$name" "$t" "${status:+($status)}"
      elif [ $((t % 30)) = 0 ]; then
        status=${STEP_STATUS:+$("$STEP_STATUS" 2>/dev/null | cut -c1-100 || true)}
        echo "  $name: still running ($t s)${status:+ ($status)}"
      fi
    done
  ) &
  ticker=$!
  # `if` keeps a set -e caller alive to report the failure
  if [ -n "${STEP_LOG:-}" ]; then
    if "$@" >"$STEP_LOG" 2>&1; then rc=0; else rc=$?; fi
  elif "$@"; then rc=0; else rc=$?; fi
  # (set -e callers: neither the kill nor the wait may end the script)
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ -t 1 ]; then printf '\r\033[K'; fi
  if [ "$rc" = 0 ]; then echo "$name: done in $((SECONDS - start)) s"
  else
    echo "$name: FAILED after $((SECONDS - start)) s (exit $rc)" >&2
    if [ -n "${STEP_LOG:-}" ]; then cat "$STEP_LOG" >&2; fi
  fi
  return "$rc"
}
