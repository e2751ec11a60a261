"""The pytest plugin's options, as a suite's ini file and command line give them: each one
reaches the server the plugin starts, a flag wins over the ini file, and a bad value stops
pytest with one line naming it (exit status 4), never an INTERNALERROR."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

pytestmark = pytest.mark.network

RUN = ("-q", "-p", "no:cacheprovider")
USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR


@pytest.fixture(autouse=True)
def _no_url_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEETINGS_EMULATOR_URL", raising=False)


def ini(pytester: pytest.Pytester, **options: str) -> None:
    lines = "".join(f"meetings_emulator_{name} = {value}\n" for name, value in options.items())
    pytester.makefile(".ini", pytest="[pytest]\n" + lines)


def test_a_flag_wins_over_the_ini_file(pytester: pytest.Pytester) -> None:
    ini(pytester, api_key="ini-key", api_secret="ini-secret")
    pytester.makepyfile(
        test_keys="""
        import base64

        def basic(pair):
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

        def test_the_flag_key_and_the_ini_secret(meetings_emulator):
            assert meetings_emulator.auth_header == basic("flag-key:ini-secret")["Authorization"]
            rooms = "/v1/meetings/rooms"
            http = meetings_emulator.http
            assert http.get(rooms).status_code == 200
            assert http.get(rooms, headers=basic("ini-key:ini-secret")).status_code == 401
        """
    )
    result = pytester.runpytest_subprocess(*RUN, "--meetings-emulator-api-key=flag-key")
    result.assert_outcomes(passed=1)


SEEDED = """
def test_ids(meetings_emulator, meetings_tenant):
    first = meetings_emulator.http.post("/v1/meetings/rooms", json={"display_name": "a"})
    theirs = meetings_tenant.http.post("/v1/meetings/rooms", json={"display_name": "b"})
    print("IDS", first.json()["id"], first.json()["meeting_code"], theirs.json()["id"])
"""


def seeded_ids(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_subprocess(*RUN, "-s", *args)
    result.assert_outcomes(passed=1)
    [line] = [line for line in result.outlines if "IDS " in line]
    return line.split("IDS ", 1)[1].split()


def test_a_seed_repeats_the_servers_and_each_tenants_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_seeded=SEEDED)
    first = seeded_ids(pytester, "--meetings-emulator-seed", "5")
    again = seeded_ids(pytester, "--meetings-emulator-seed", "5")
    other = seeded_ids(pytester, "--meetings-emulator-seed", "6")
    assert first == again
    assert len(set(first)) == 3
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_local_links_isolated_tenancy_and_a_scope_per_test(pytester: pytest.Pytester) -> None:
    ini(pytester, local_links="yes", tenancy="isolated")
    pytester.makepyfile(
        test_settings="""
        import base64

        import httpx

        urls = []

        def basic(pair):
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

        def test_links_open_the_emulators_own_page(meetings_emulator):
            urls.append(meetings_emulator.base_url)
            room = meetings_emulator.http.post("/v1/meetings/rooms", json={"display_name": "x"})
            link = room.json()["_links"]["guest_url"]["href"]
            assert link == f"{meetings_emulator.base_url}/meet/{room.json()['meeting_code']}"
            assert httpx.get(link).status_code == 200

        def test_each_api_key_has_rooms_of_its_own(meetings_emulator):
            urls.append(meetings_emulator.base_url)
            rooms, http = "/v1/meetings/rooms", meetings_emulator.http
            made = http.post(rooms, json={"display_name": "one"}, headers=basic("a:s"))
            assert made.status_code == 201
            assert http.get(rooms, headers=basic("a:s")).json()["total_items"] == 1
            assert http.get(rooms, headers=basic("b:s")).json()["total_items"] == 0
            assert urls[0] != urls[1]  # --meetings-emulator-scope function
        """
    )
    result = pytester.runpytest_subprocess(*RUN, "--meetings-emulator-scope", "function")
    result.assert_outcomes(passed=2)


def test_tls_serves_https_with_a_ca_the_suite_can_trust(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_tls="""
        import ssl

        import httpx
        import pytest

        def test_https(meetings_emulator, meetings_tenant):
            assert meetings_emulator.base_url.startswith("https://127.0.0.1:")
            assert meetings_tenant.base_url == meetings_emulator.base_url
            assert meetings_tenant.ca_file == meetings_emulator.ca_file
            trusted = ssl.create_default_context(cafile=meetings_emulator.ca_file)
            health = httpx.get(meetings_emulator.base_url + "/_emulator/health", verify=trusted)
            assert health.status_code == 200
            assert meetings_tenant.http.get("/v1/meetings/rooms").status_code == 200
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                httpx.get(meetings_emulator.base_url + "/_emulator/health")
        """
    )
    result = pytester.runpytest_subprocess(*RUN, "--meetings-emulator-tls")
    result.assert_outcomes(passed=1)


def test_a_public_key_file_makes_jwt_signatures_checked(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "app.pub").write_bytes(public)
    (tmp_path / "app.key").write_bytes(private)
    ini(pytester, public_key=str(tmp_path / "app.pub"))
    pytester.makepyfile(
        test_jwt=f"""
        import time

        import jwt

        def test_only_signed_tokens(meetings_emulator):
            private = open({str(tmp_path / "app.key")!r}).read()
            claims = {{"application_id": "app", "exp": int(time.time()) + 600}}
            good = jwt.encode(claims, private, algorithm="RS256")
            forged = jwt.encode(claims, "not the key", algorithm="HS256")
            rooms = "/v1/meetings/rooms"
            bearer = lambda token: {{"Authorization": f"Bearer {{token}}"}}
            assert meetings_emulator.http.get(rooms, headers=bearer(good)).status_code == 200
            assert meetings_emulator.http.get(rooms, headers=bearer(forged)).status_code == 401
            assert meetings_emulator.http.get(rooms).status_code == 401  # Basic: not configured
        """
    )
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=1)


BAD = [
    pytest.param(
        ["--meetings-emulator-tenancy=bogus"],
        {},
        "--meetings-emulator-tenancy bogus: must be one of shared, isolated",
        id="tenancy",
    ),
    pytest.param(
        [],
        {"seed": "-1"},
        "meetings_emulator_seed = -1 in pytest.ini: must be an integer >= 0",
        id="seed-ini",
    ),
    pytest.param(
        [],
        {"scope": "class"},
        "meetings_emulator_scope = class in pytest.ini: must be one of session, module, function",
        id="scope",
    ),
    pytest.param(
        ["--meetings-emulator-url", "ftp://example"],
        {"url": "http://127.0.0.1:9"},
        "--meetings-emulator-url ftp://example: must be a URL starting with http:// or https://",
        id="url-flag-over-ini",
    ),
    pytest.param(
        ["--meetings-emulator-tls=maybe"],
        {},
        "--meetings-emulator-tls maybe: must be one of 1/true/yes/on or 0/false/no/off",
        id="tls",
    ),
    pytest.param(
        [],
        {"local_links": "sometimes"},
        "meetings_emulator_local_links = sometimes in pytest.ini: must be one of"
        " 1/true/yes/on or 0/false/no/off",
        id="local-links",
    ),
    pytest.param(
        ["--meetings-emulator-start", "yesterday"],
        {},
        "--meetings-emulator-start yesterday: must be an instant such as 2026-03-02T09:30:00Z",
        id="start",
    ),
    pytest.param(
        ["--meetings-emulator-api-secret="],
        {},
        "--meetings-emulator-api-secret ***: must not be empty",
        id="secret-masked",
    ),
    pytest.param(
        ["--meetings-emulator-public-key", "/no/such/key.pem"],
        {},
        "--meetings-emulator-public-key /no/such/key.pem: is not a file",
        id="public-key-missing",
    ),
    pytest.param(
        ["--meetings-emulator-seed", "x", "-n", "2"],
        {},
        "--meetings-emulator-seed x: must be an integer >= 0",
        id="under-xdist",
    ),
]


@pytest.mark.parametrize(("args", "options", "message"), BAD)
def test_a_bad_value_stops_pytest_with_one_line(
    pytester: pytest.Pytester, args: list[str], options: dict[str, str], message: str
) -> None:
    ini(pytester, **options)
    pytester.makepyfile(test_never="def test_never(meetings_tenant):\n    pass\n")
    result = pytester.runpytest_subprocess(*RUN, *args)
    assert result.ret == USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output
    errors = [line for line in result.errlines if line.startswith("ERROR")]
    assert errors == [f"ERROR: meetings-emulator: {message}"]


def test_a_public_key_file_that_is_no_pem_is_refused(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    (tmp_path / "key.txt").write_text("not a key\n")
    ini(pytester, public_key=str(tmp_path / "key.txt"))
    pytester.makepyfile(test_never="def test_never(meetings_emulator):\n    pass\n")
    result = pytester.runpytest_subprocess(*RUN)
    assert result.ret == USAGE_ERROR
    shown = re.escape(str(tmp_path / "key.txt"))
    result.stderr.re_match_lines(
        [
            rf"ERROR: meetings-emulator: meetings_emulator_public_key = {shown} in pytest\.ini:"
            r" is not a PEM public key"
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_help_is_shown_whatever_the_environment_says(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEETINGS_EMULATOR_URL", "not a url")
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--meetings-emulator-url=URL*"])
    assert "ERROR" not in result.stderr.str()
