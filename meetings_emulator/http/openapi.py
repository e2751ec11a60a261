"""The emulator's own OpenAPI document, served at `/_emulator/openapi.yaml` and `.json`.

In an installed wheel the document is packaged as `meetings_emulator/http/openapi.yaml`; in a
source checkout it is read from `openapi/meetings-emulator.yaml`. The docs page lists
every operation from it, server-rendered, with no script or asset from elsewhere.
"""

from __future__ import annotations

import html
import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

SOURCE_COPY = Path(__file__).resolve().parents[2] / "openapi" / "meetings-emulator.yaml"
METHODS = ("get", "post", "put", "patch", "delete")
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 75rem; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; }
code.get { color: #0a7d32; } code.post { color: #1f5fbf; }
code.put, code.patch { color: #a35a00; } code.delete { color: #b3261e; }
"""


@cache
def document_text() -> str:
    packaged = files("meetings_emulator.http") / "openapi.yaml"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return SOURCE_COPY.read_text(encoding="utf-8")


@cache
def document() -> dict[str, Any]:
    import yaml  # only when the document is first asked for: it costs start-up time

    loaded: dict[str, Any] = yaml.safe_load(document_text())
    return loaded


@cache
def document_json() -> bytes:
    return json.dumps(document(), ensure_ascii=False, indent=2).encode()


@cache
def docs_page() -> str:
    spec = document()
    info = spec.get("info", {})
    rows = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            statuses = ", ".join(str(code) for code in operation.get("responses", {}))
            rows.append(
                "<tr>"
                f"<td><code class='{method}'>{method.upper()}</code></td>"
                f"<td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation.get('summary', ''))}</td>"
                f"<td>{html.escape(statuses)}</td>"
                "</tr>"
            )
    hooks = "".join(
        f"<li><code>{html.escape(name)}</code></li>" for name in spec.get("webhooks", {})
    )
    title = html.escape(f"{info.get('title', 'meetings-emulator')} {info.get('version', '')}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>{STYLE}</style></head><body>
<h1>{title}</h1>
<p>The whole contract: <a href="/_emulator/openapi.yaml">openapi.yaml</a>,
<a href="/_emulator/openapi.json">openapi.json</a>.</p>
<table><thead><tr><th>method</th><th>path</th><th>what it does</th><th>answers</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Callbacks</h2><ul>{hooks}</ul>
</body></html>
"""
