#!/usr/bin/env bash
# The action's start step: serve the emulator in the background, wait until it answers
# healthy, then export its URL ($GITHUB_ENV, and the step output `url`).
#
# Each emulator has a folder $RUNNER_TEMP/meetings-emulator/port-N holding its pid, its log
# (emulator.log), its exit status once it has ended (exit-status) and the state file's
# path (state-file); stop.sh reads them.
set -euo pipefail

home="$RUNNER_TEMP/meetings-emulator"
emulator="$home/venv/bin/meetings-emulator"

fail() {
  echo "::error::meetings-emulator: $1"
  exit 1
}

[[ "$ACTION_PORT" =~ ^[0-9]+$ ]] || fail "port must be a number, not '$ACTION_PORT'"
[[ "$ACTION_WAIT_SECONDS" =~ ^[0-9]+$ ]] || fail "wait-seconds must be a whole number, not '$ACTION_WAIT_SECONDS'"
run="$home/port-$ACTION_PORT"
if [ -s "$run/pid" ] && [ ! -e "$run/exit-status" ]; then
  fail "this job already started an emulator on port $ACTION_PORT (pid $(cat "$run/pid"))"
fi
rm -rf "$run"
mkdir -p "$run"

url="http://127.0.0.1:$ACTION_PORT"
# Another emulator on the port would answer the health checks below in this one's stead.
if "$emulator" health --url "$url" --timeout 1 >/dev/null 2>&1; then
  fail "an emulator not started by this step already answers at $url"
fi

options=(--host 127.0.0.1 --port "$ACTION_PORT")
if [ -n "$ACTION_SEED" ]; then
  options+=(--seed "$ACTION_SEED")
fi
if [ -n "$ACTION_STATE_FILE" ]; then
  state="$ACTION_STATE_FILE"
  case "$state" in
    /*) ;;
    *) state="$PWD/$state" ;;
  esac
  mkdir -p "$(dirname "$state")"
  options+=(--state-file "$state")
  printf '%s\n' "$state" >"$run/state-file"
fi
if [ -n "$ACTION_CALLBACK_URL" ]; then
  options+=(--callback-url "$ACTION_CALLBACK_URL")
fi
read -r -a extra <<<"$ACTION_ARGS"
options+=(${extra[@]+"${extra[@]}"}) # no options: nothing (and no error in bash 3's set -u)

# The emulator runs under a subshell that waits for it and writes its exit status. Neither
# holds this step's output open, so the step ends while the emulator goes on serving.
(
  "$emulator" "${options[@]}" >"$run/emulator.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$run/pid"
  status=0
  wait "$!" || status=$?
  printf '%s\n' "$status" >"$run/exit-status"
) >/dev/null 2>&1 </dev/null &

deadline=$((SECONDS + ACTION_WAIT_SECONDS))
until "$emulator" health --url "$url" --timeout 2 >/dev/null 2>&1; do
  if [ -s "$run/exit-status" ]; then
    cat "$run/emulator.log"
    fail "it ended with status $(cat "$run/exit-status") before answering healthy (log above)"
  fi
  if ((SECONDS >= deadline)); then
    kill -KILL "$(cat "$run/pid")" 2>/dev/null || true
    cat "$run/emulator.log"
    fail "not healthy at $url within $ACTION_WAIT_SECONDS s (log above)"
  fi
  sleep 0.2
done

echo "MEETINGS_EMULATOR_URL=$url" >>"$GITHUB_ENV"
echo "url=$url" >>"$GITHUB_OUTPUT"
echo "$("$emulator" --version) is serving $url (pid $(cat "$run/pid"), log $run/emulator.log)"
