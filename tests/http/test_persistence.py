"""State survives: export and import, the state file, atomic saves, and a kill -9."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from meetings_emulator import statefile
from meetings_emulator.app import create_app
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.settings import Settings

from ..conftest import BASIC, START

V1 = "/v1/meetings"


def fresh(**settings: Any) -> TestClient:
    app = create_app(Settings(**settings), clock=Clock.frozen_at(START), ids=Ids(4))
    return TestClient(app, headers={"Authorization": BASIC})


def populate(client: TestClient) -> dict[str, Any]:
    """A bit of everything: themes, rooms of both kinds, a live meeting, recordings, a logo."""
    theme = client.post(
        f"{V1}/themes",
        json={"main_color": "#123456", "brand_text": "Co", "short_company_url": "co"},
    ).json()
    client.patch(
        f"{V1}/applications", json={"update_details": {"default_theme_id": theme["theme_id"]}}
    )
    instant = client.post(f"{V1}/rooms", json={"display_name": "instant"}).json()
    weekly = client.post(
        f"{V1}/rooms",
        json={
            "display_name": "weekly",
            "type": "long_term",
            "expires_at": format_iso(START + timedelta(days=3)),
            "join_approval_level": "explicit_approval",
            "callback_urls": {"rooms_callback_url": "https://example.com/r"},
            "metadata": "m",
        },
    ).json()
    host = client.post(
        f"/_emulator/rooms/{weekly['id']}/participants", json={"name": "Host", "is_host": True}
    ).json()
    guest = client.post(f"/_emulator/rooms/{weekly['id']}/participants", json={"name": "G"}).json()
    done = client.post(f"/_emulator/sessions/{host['session_id']}/recordings").json()
    client.post(f"/_emulator/recordings/{done['id']}/stop")
    client.post("/_emulator/clock", json={"advance_seconds": 6})
    pending = client.post(f"/_emulator/sessions/{host['session_id']}/recordings").json()
    client.post(f"/_emulator/recordings/{pending['id']}/stop")  # its upload is due in 5 s

    logo = Image.new("RGBA", (100, 40), (0, 0, 0, 0))
    logo.putpixel((50, 20), (255, 255, 255, 255))
    data = io.BytesIO()
    logo.save(data, "PNG")
    [form] = [
        f
        for f in client.get(f"{V1}/themes/logos-upload-urls").json()
        if f["fields"]["logoType"] == "white"
    ]
    client.post(form["url"], data=form["fields"], files={"file": ("l.png", data.getvalue())})
    client.put(
        f"{V1}/themes/{theme['theme_id']}/finalizeLogos", json={"keys": [form["fields"]["key"]]}
    )
    return {
        "theme": theme,
        "instant": instant,
        "weekly": weekly,
        "host": host,
        "guest": guest,
        "done": done,
        "pending": pending,
    }


def views(client: TestClient, made: dict[str, Any]) -> dict[str, Any]:
    """What a caller can see of it all."""
    return {
        "rooms": client.get(f"{V1}/rooms").json(),
        "themes": client.get(f"{V1}/themes").json(),
        "theme_rooms": client.get(f"{V1}/themes/{made['theme']['theme_id']}/rooms").json(),
        "recordings": client.get(f"{V1}/sessions/{made['host']['session_id']}/recordings").json(),
        "meeting": client.get(f"/_emulator/rooms/{made['weekly']['id']}/session").json(),
        "logo": client.get(
            client.get(f"{V1}/themes/{made['theme']['theme_id']}").json()["brand_image_white_url"]
        ).content,
    }


def test_export_then_import_gives_back_the_same_state() -> None:
    with fresh() as first:
        made = populate(first)
        before = views(first, made)
        state = first.get("/_emulator/snapshot").json()
    assert (state["format"], state["version"]) == ("meetings-emulator-state", 1)
    json.dumps(state)  # plain JSON all the way down

    with fresh() as second:  # its clock starts earlier: the saved clock carries it forward
        assert second.put("/_emulator/snapshot", json=state).status_code == 204
        assert second.get("/_emulator/clock").json()["now"] == state["saved_at"]
        after = views(second, made)
        assert after == before
        # Timers are armed again: the pending upload, then the instant room's expiry.
        assert second.get(f"{V1}/recordings/{made['pending']['id']}").json()["status"] == "stopped"
        second.post("/_emulator/clock", json={"advance_seconds": 5})
        assert second.get(f"{V1}/recordings/{made['pending']['id']}").json()["status"] == "uploaded"
        second.post("/_emulator/clock", json={"advance_seconds": 600})
        assert second.get(f"{V1}/rooms/{made['instant']['id']}").json()["is_available"] is False
        # The waiting guest is still waiting, and can be admitted.
        admitted = second.post(
            f"/_emulator/rooms/{made['weekly']['id']}/participants/{made['guest']['participant_id']}/admit"
        )
        assert admitted.json()["state"] == "joined"
        # A new room gets the next serial, and a free meeting code.
        new = second.post(f"{V1}/rooms", json={"display_name": "next"}).json()
        listed = second.get(f"{V1}/rooms", params={"start_id": 3}).json()["_embedded"]
        assert [room["id"] for room in listed] == [new["id"]]


def test_a_seeded_restart_goes_on_with_its_sequence() -> None:
    with fresh(seed=4) as first:
        room = first.post(f"{V1}/rooms", json={"display_name": "a"}).json()
        state = first.get("/_emulator/snapshot").json()
    with fresh(seed=4) as second:
        second.put("/_emulator/snapshot", json=state)
        other = second.post(f"{V1}/rooms", json={"display_name": "b"}).json()
    assert other["id"] != room["id"]
    assert other["meeting_code"] != room["meeting_code"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({}, '"format" must be "meetings-emulator-state"'),
        ({"format": "meetings-emulator-state", "version": 9}, '"version" must be 1'),
        ([], '"format" must be "meetings-emulator-state"'),
    ],
)
def test_foreign_snapshots_are_refused(state: Any, message: str) -> None:
    with fresh() as client:
        client.post(f"{V1}/rooms", json={"display_name": "kept"})
        response = client.put("/_emulator/snapshot", json=state)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message)
        assert client.get(f"{V1}/rooms").json()["total_items"] == 1


def test_saving_without_a_state_file_is_409() -> None:
    with fresh() as client:
        response = client.post("/_emulator/snapshot")
        assert (response.status_code, response.json()["name"]) == (409, "ConflictError")


def test_state_file_is_loaded_at_start_and_saved_at_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with fresh(state_file=str(path)) as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "kept"}).json()
        saved = client.post("/_emulator/snapshot").json()
        assert saved == {"saved": str(path), "saved_at": format_iso(START), "rooms": 1}
        client.post(f"{V1}/rooms", json={"display_name": "also kept"})
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind
    with fresh(state_file=str(path)) as again:
        names = [r["display_name"] for r in again.get(f"{V1}/rooms").json()["_embedded"]]
        assert names == ["kept", "also kept"]
        assert again.get(f"{V1}/rooms/{room['id']}").json()["display_name"] == "kept"


def test_a_failed_save_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    statefile.save(path, {"old": True})

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(statefile.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        statefile.save(path, {"new": True})
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.network
def test_kill_9_while_saving_in_a_loop_keeps_the_last_completed_save(tmp_path: Path) -> None:
    """Create rooms; save over and over; kill -9 at some moment; the file loads, whole."""
    path = tmp_path / "state.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meetings_emulator",
            "--port",
            "0",
            "--state-file",
            str(path),
            "--max-rooms",
            "100000",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    url = None
    for line in process.stdout:
        found = re.search(r"serving (http://\S+) ", line)
        if found:
            url = found.group(1)
            break
    assert url
    kept: list[str] = []
    try:
        with httpx.Client(base_url=url, headers={"Authorization": BASIC}, timeout=30) as http:
            created: list[str] = []
            deadline = time.monotonic() + 20
            for round_ in range(40):
                if time.monotonic() > deadline:
                    break
                for n in range(25):
                    room = http.post(f"{V1}/rooms", json={"display_name": f"r{round_}-{n}"})
                    created.append(room.json()["id"])
                if http.post("/_emulator/snapshot").status_code == 200:
                    kept = list(created)  # every room of this completed save
            # One more save, killed while it is being written.
            saver = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    f"import httpx; httpx.post('{url}/_emulator/snapshot', timeout=30)",
                ]
            )
            time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            saver.wait(timeout=30)
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
    assert kept, "no save completed"
    state = json.loads(path.read_text())  # a whole file, the old or the new
    with TestClient(
        create_app(Settings(state_file=str(path))), headers={"Authorization": BASIC}
    ) as c:
        listed = c.get(f"{V1}/rooms", params={"page_size": 1000}).json()
        assert listed["total_items"] >= len(kept)
        ids = {room["id"] for room in listed["_embedded"]}
        while "next" in listed["_links"]:
            listed = c.get(listed["_links"]["next"]["href"]).json()
            ids |= {room["id"] for room in listed["_embedded"]}
    assert set(kept) <= ids
    assert len(state["rooms"]["rooms"]) == len(ids)
    assert not [
        p for p in tmp_path.iterdir() if p.name != "state.json" and not p.name.startswith(".")
    ]
    assert os.path.getsize(path) > 0


@pytest.mark.parametrize("damage", [{"rooms": "x"}, {"clock": {}}, {"themes": {"themes": [1]}}])
def test_a_damaged_snapshot_is_refused_and_changes_nothing(damage: dict[str, Any]) -> None:
    with fresh() as client:
        room = client.post(f"{V1}/rooms", json={"display_name": "kept"}).json()
        state = client.get("/_emulator/snapshot").json()
        response = client.put("/_emulator/snapshot", json={**state, **damage})
        assert response.status_code == 400
        assert response.json()["message"].startswith("The snapshot could not be read")
        assert client.get(f"{V1}/rooms/{room['id']}").json()["display_name"] == "kept"
        assert client.get(f"{V1}/rooms").json()["total_items"] == 1
