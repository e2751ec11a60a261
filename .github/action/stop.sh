#!/usr/bin/env bash
# The action's stop step: stop every emulator that start.sh started in this job with
# SIGTERM, as Ctrl-C would, so each saves its state file; then show its log.
#
# It fails when an emulator had already ended badly, does not stop within STOP_SECONDS,
# exits with a status other than 0, or was given a state file that is not there after.
set -euo pipefail

STOP_SECONDS=15 # the emulator stops within 5 s (SHUTDOWN_BOUND in config.py)
home="$RUNNER_TEMP/meetings-emulator"

shopt -s nullglob
runs=("$home"/port-*/)
if [ "${#runs[@]}" -eq 0 ]; then
  echo "::warning::meetings-emulator: no emulator was started by this action in this job"
  exit 0
fi

failed=0
for run in "${runs[@]}"; do
  run="${run%/}"
  port="${run##*/port-}"
  [ -s "$run/pid" ] || continue
  pid="$(cat "$run/pid")"
  if [ -e "$run/stopped" ]; then
    continue # a stop step before this one stopped it
  fi
  if [ ! -s "$run/exit-status" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_SECONDS))
    while [ ! -s "$run/exit-status" ] && ((SECONDS < deadline)); do
      sleep 0.1
    done
  fi
  touch "$run/stopped"

  echo "::group::meetings-emulator log (port $port)"
  cat "$run/emulator.log"
  echo "::endgroup::"

  if [ ! -s "$run/exit-status" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "::error::meetings-emulator on port $port did not stop within $STOP_SECONDS s: killed"
    failed=1
    continue
  fi
  status="$(cat "$run/exit-status")"
  if [ "$status" != 0 ]; then
    echo "::error::meetings-emulator on port $port ended with status $status (log above)"
    failed=1
  fi
  if [ -s "$run/state-file" ]; then
    state="$(cat "$run/state-file")"
    if [ -s "$state" ]; then
      echo "meetings-emulator on port $port saved its state to $state"
    else
      echo "::error::meetings-emulator on port $port did not save its state to $state"
      failed=1
    fi
  fi
done
exit "$failed"
