"""The public guide's curl commands, pasted with only the host swapped, give its status codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock

from ..conftest import serving

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

# The guide's examples were written on 2021-10-19; its long-term room expires in 2022.
GUIDE_DAY = datetime(2021, 10, 19, 18, 20, tzinfo=UTC)


@pytest.fixture
def host() -> Iterator[str]:
    with serving(create_app(clock=Clock.frozen_at(GUIDE_DAY))) as url:
        yield url


def curl(command: str) -> tuple[int, object]:
    """Run a guide command through a shell, as pasted, and return (status, JSON body or None)."""
    result = subprocess.run(
        f"{command} --silent --show-error --write-out '\\n%{{http_code}}'",
        shell=True,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body) if body.strip() else None


def test_guide_walkthrough(host: str) -> None:
    for prefix in ("beta", "v1"):
        base = f"{host}/{prefix}/meetings"
        status, instant = curl(f"""curl --request POST '{base}/rooms' \\
--header 'authorization: basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ==' \\
--header 'content-type: application/json' \\
--data-raw '{{
   "display_name":"New Meeting Room"
}}'""")
        assert status == 201
        assert instant["type"] == "instant"
        assert instant["is_available"] is True

        status, long_term = curl(f"""curl --request POST '{base}/rooms' \\
--header 'authorization: basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ==' \\
--header 'content-type: application/json' \\
--data-raw '{{
   "display_name":"New Meeting Room",
   "type":"long_term",
   "expires_at":"2022-10-21T18:45:50.901Z", 
   "recording_options": {{
       "auto_record": true}}
}}'""")
        assert status == 201
        assert long_term["expires_at"] == "2022-10-21T18:45:50.901Z"
        assert long_term["recording_options"]["auto_record"] is True

        status, fetched = curl(f"""curl --request GET '{base}/rooms/{instant["id"]}' \\
--header 'authorization: basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ==' \\
--header 'content-type: application/json' """)
        assert (status, fetched) == (200, instant)

        status, listing = curl(f"""curl --location --request GET '{base}/rooms/' \\
--header 'authorization: basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ==' \\
--header 'content-type: application/json'""")
        assert status == 200
        assert instant["id"] in [room["id"] for room in listing["_embedded"]]

        status, updated = (
            curl(f"""curl --location --request PATCH '{base}/rooms/{long_term["id"]}' \\
--header 'Authorization: Basic MTFmMWI4NGY6UnVpbnJIMWxneGZXNGJibQ==' \\
--header 'Content-Type: application/json' \\
--data-raw '{{
  "update_details": {{
    "expires_at": "2021-11-11T16:00:00.000Z"
  }}
}}'""")
        )
        assert status == 200
        assert updated["expires_at"] == "2021-11-11T16:00:00.000Z"

        status, _ = curl(f"""curl --location --request DELETE '{base}/rooms/{instant["id"]}' \\
--header 'Authorization: Basic YWFhMDEyOmFiYzEyMzQ1Njc4OQ==' \\
--header 'Content-Type: application/json'""")
        assert status == 204
