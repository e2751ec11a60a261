"""The Dockerfile and .dockerignore read as an engine reads them, and replayed without one.

`Dockerfile.read()` parses the file into stages of instructions, with `ARG` defaults put in
and continuation lines joined. `context_files()` is what `docker build .` would send: the
checkout's files less those `.dockerignore` leaves out, matched as the engine matches them
(a pattern excludes a path when it matches the path or one of its parent folders; the last
pattern that matches wins, `!` bringing a path back).

`replay(tmp)` builds the image in a folder instead: each stage is a folder standing for the
container's `/`, with a fresh virtual environment standing for the base image's Python.
`COPY` copies from the build context (or from an earlier stage's folder), `WORKDIR` and
`ENV` apply to the `RUN` lines that follow, and each `RUN` runs in a shell with the
environment's `bin/` first on `PATH`, its absolute paths moved under the stage's folder.
Only `useradd` is not run (it would change this machine); tests check its uid instead. The
base image's Python is this machine's, not the pinned one.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import venv
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IGNORED_ALWAYS = {".git"}  # never part of a context worth sending; .dockerignore also says so


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def all(self, word: str) -> list[str]:
        return [rest for instruction, rest in self.steps if instruction == word]

    def one(self, word: str) -> str:
        [rest] = self.all(word)
        return rest

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for rest in self.all("ENV"):
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        return env

    def labels(self) -> dict[str, str]:
        labels: dict[str, str] = {}
        for rest in self.all("LABEL"):
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                labels[key] = value
        return labels


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    @classmethod
    def read(cls, path: Path = ROOT / "Dockerfile") -> Dockerfile:
        lines = [
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        ]
        joined = re.sub(r"\\\n", " ", "\n".join(lines))
        args: dict[str, str] = {}
        stages: list[Stage] = []
        for line in joined.splitlines():
            if not line.strip():
                continue
            word, _, rest = line.strip().partition(" ")
            word, rest = word.upper(), rest.strip()
            if word == "ARG":
                name, _, default = rest.partition("=")
                args[name] = default
                if not stages:
                    continue
            rest = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest)
            if word == "FROM":
                base, _, name = rest.partition(" AS ")
                stages.append(Stage(base.strip(), name.strip() or None))
            else:
                stages[-1].steps.append((word, rest))
        return cls(args, stages)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        [found] = [stage for stage in self.stages if stage.name == name]
        return found


def _glob(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match, plus `**` for any number of folders)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def ignore_rules(path: Path = ROOT / ".dockerignore") -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) for each line of .dockerignore, in order."""
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
        rules.append((negate, _glob(pattern)))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, pattern in rules:
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def context_files(root: Path = ROOT) -> set[str]:
    """The paths (relative, with /) a `docker build` of `root` sends to the engine."""
    rules = ignore_rules(root / ".dockerignore")
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED_ALWAYS]
        for name in files:
            relative = Path(folder, name).relative_to(root).as_posix()
            if not is_ignored(relative, rules):
                found.add(relative)
    return found


@dataclass
class Replayed:
    """A stage built in a folder: `root` stands for its `/`, `bin` for its Python's scripts."""

    root: Path
    bin: Path
    env: dict[str, str]
    workdir: str

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")


def _copy(sources: list[Path], destination: Path) -> None:
    for source in sources:
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            target = destination / source.name if destination.is_dir() else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _context_sources(context: Path, files: set[str], source: str, into: Path) -> list[Path]:
    """`source` out of the context, less what .dockerignore leaves out, staged in `into`."""
    source = source.rstrip("/")
    chosen = [f for f in files if f == source or f.startswith(source + "/")]
    assert chosen, f"COPY {source}: nothing in the build context (see .dockerignore)"
    staged = into / source
    for relative in chosen:
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(context / relative, target)
    return [staged]


def replay_stage(
    stage: Stage,
    where: Path,
    built: dict[str, Replayed],
    *,
    context: Path = ROOT,
    pip_cache: bool = True,
) -> Replayed:
    root = where / "rootfs"
    root.mkdir(parents=True)
    env_dir = where / "python"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    files = context_files(context)
    image = Replayed(root, env_dir / "bin", {}, "/")
    for word, rest in stage.steps:
        if word == "ENV":
            image.env.update(Stage("", None, [(word, rest)]).env())
        elif word == "WORKDIR":
            image.workdir = rest if rest.startswith("/") else f"{image.workdir}/{rest}"
            image.path(image.workdir).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            tokens = shlex.split(rest)
            origin = next((t.split("=", 1)[1] for t in tokens if t.startswith("--from=")), None)
            *sources, destination = [t for t in tokens if not t.startswith("--")]
            inside = (
                destination if destination.startswith("/") else f"{image.workdir}/{destination}"
            )
            target = image.path(inside)
            if destination.endswith("/") or len(sources) > 1 or destination in (".", "./"):
                target.mkdir(parents=True, exist_ok=True)
            staging = where / "context"
            for source in sources:
                if origin is not None:
                    paths = [built[origin].path(source)]
                else:
                    paths = _context_sources(context, files, source, staging)
                _copy(paths, target)
        elif word == "RUN":
            if rest.split()[0] == "useradd":
                continue
            command = re.sub(r"(?<=\s)/", f"{root}/", f" {rest}").strip()
            env = {**os.environ, **image.env}
            env["PATH"] = f"{image.bin}{os.pathsep}{os.environ['PATH']}"
            if pip_cache:
                env.pop("PIP_NO_CACHE_DIR", None)  # the image keeps no cache; a test run may
            subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=image.path(image.workdir),
                env=env,
                check=True,
                timeout=600,
            )
    return image


def replay(where: Path, dockerfile: Dockerfile | None = None) -> Replayed:
    """Build every stage in turn under `where`; the last stage is the image."""
    dockerfile = dockerfile or Dockerfile.read()
    built: dict[str, Replayed] = {}
    image: Replayed | None = None
    for number, stage in enumerate(dockerfile.stages):
        image = replay_stage(stage, where / f"stage{number}", built)
        if stage.name:
            built[stage.name] = image
    assert image is not None
    return image
