#!/usr/bin/env bash
# The action's install step: meetings-emulator in a virtual environment of its own under
# $RUNNER_TEMP, so the job's Python stays as it was (and pip needs no --user or
# --break-system-packages on a runner's system Python).
#
# ACTION_VERSION  a release to install from PyPI; empty: the action's own files
#                 ($GITHUB_ACTION_PATH), the same version as the action's ref
# ACTION_PYTHON   the Python the environment is made with
set -euo pipefail

home="$RUNNER_TEMP/meetings-emulator"
venv="$home/venv"
if [ -n "$ACTION_VERSION" ]; then
  target="meetings-emulator==$ACTION_VERSION"
else
  target="$GITHUB_ACTION_PATH"
fi

# A second start in the same job reuses the environment when it holds the same target.
if [ -x "$venv/bin/meetings-emulator" ] && [ "$(cat "$home/installed" 2>/dev/null)" = "$target" ]; then
  echo "meetings-emulator is installed already: $("$venv/bin/meetings-emulator" --version)"
  exit 0
fi

mkdir -p "$home"
"$ACTION_PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$target"
printf '%s\n' "$target" >"$home/installed"
echo "installed $("$venv/bin/meetings-emulator" --version) from $target"
