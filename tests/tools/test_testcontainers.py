"""The Testcontainers module without an engine: the environment each `with_*` gives the
container, read back by the emulator's own configuration; the URL it composes; and the
message a user sees without the extra. tests/container runs it against a real image."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import textwrap
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meetings_emulator.app import create_app
from meetings_emulator.config import build_parser, configure, masked_configuration
from meetings_emulator.domain.settings import Settings
from meetings_emulator.testcontainers import (
    CA_PATH,
    DEFAULT_IMAGE,
    MeetingsEmulatorContainer,
    base_url,
)
from meetings_emulator.version import __version__

from ..conftest import serving

# A fixed API version: docker-py then asks no engine for one when the container is made.
NO_ENGINE = {"docker_client_kw": {"version": "1.41"}}
E = "MEETINGS_EMULATOR_"
ALWAYS = {E + "HOST": "0.0.0.0", E + "PORT": "9010"}


def container(**kwargs: Any) -> MeetingsEmulatorContainer:
    return MeetingsEmulatorContainer(**NO_ENGINE, **kwargs)


def started_with(emulator: MeetingsEmulatorContainer) -> dict[str, str]:
    """The environment the container is created with (start() configures, then creates)."""
    emulator._configure()
    assert emulator._command is None  # the image's ENTRYPOINT alone: settings are variables
    return dict(emulator.env)


def read_by_the_emulator(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every option as `meetings-emulator` resolves it from that environment."""
    for name in [name for name in os.environ if name.startswith(E)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return masked_configuration(configure(build_parser().parse_args([])))


def test_the_default_image_is_this_release_on_the_project_registry() -> None:
    assert f"ghcr.io/meetings-emulator/meetings-emulator:{__version__}" == DEFAULT_IMAGE
    assert container().image == DEFAULT_IMAGE
    assert container(image="localhost/meetings-emulator:dev").image == (
        "localhost/meetings-emulator:dev"
    )


@pytest.mark.parametrize(
    ("configure_it", "env", "read"),
    [
        (lambda c: c, {}, {"seed": "random", "tls": False, "callback-url": None}),
        (lambda c: c.with_seed(7), {E + "SEED": "7"}, {"seed": 7}),
        (lambda c: c.with_seed(0), {E + "SEED": "0"}, {"seed": 0}),
        (
            lambda c: c.with_callback_url("http://host.containers.internal:8000/hooks"),
            {E + "CALLBACK_URL": "http://host.containers.internal:8000/hooks"},
            {"callback-url": "http://host.containers.internal:8000/hooks"},
        ),
        (
            lambda c: c.with_tls(),
            {E + "TLS": "1", E + "TLS_CA_OUT": CA_PATH},
            {"tls": True, "tls-ca-out": CA_PATH, "tls-hostname": []},
        ),
        (
            lambda c: c.with_tls("Meetings", "10.1.2.3").with_tls("meetings"),
            {
                E + "TLS": "1",
                E + "TLS_CA_OUT": CA_PATH,
                E + "TLS_HOSTNAME": "meetings,10.1.2.3",
            },
            {"tls": True, "tls-hostname": ["meetings", "10.1.2.3"]},
        ),
        (
            lambda c: c.with_api_credentials("key-1", "s3cret"),
            {E + "API_KEY": "key-1", E + "API_SECRET": "s3cret"},
            {"api-key": "key-1", "api-secret": "***"},
        ),
        (
            lambda c: c.with_network_aliases("meetings").with_tls(),
            {
                E + "ALLOWED_HOSTS": "meetings",
                E + "TLS": "1",
                E + "TLS_CA_OUT": CA_PATH,
                E + "TLS_HOSTNAME": "meetings",
            },
            {"allowed-host": ["meetings"], "tls-hostname": ["meetings"]},
        ),
        (
            # a compose-style alias is answered, but a certificate cannot name it
            lambda c: c.with_network_aliases("meetings_emulator").with_tls(),
            {E + "ALLOWED_HOSTS": "meetings_emulator", E + "TLS": "1", E + "TLS_CA_OUT": CA_PATH},
            {"allowed-host": ["meetings_emulator"], "tls-hostname": []},
        ),
        (
            lambda c: (
                c.with_seed(3)
                .with_callback_url("https://receiver:9443/")
                .with_api_credentials("k", "s")
                .with_tls("receiver")
            ),
            {
                E + "SEED": "3",
                E + "CALLBACK_URL": "https://receiver:9443/",
                E + "API_KEY": "k",
                E + "API_SECRET": "s",
                E + "TLS": "1",
                E + "TLS_CA_OUT": CA_PATH,
                E + "TLS_HOSTNAME": "receiver",
            },
            {"seed": 3, "tls": True, "api-key": "k", "callback-url": "https://receiver:9443/"},
        ),
    ],
)
def test_each_setting_reaches_the_emulator_as_its_variable(
    configure_it: Any,
    env: dict[str, str],
    read: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = configure_it(container())
    assert started_with(emulator) == {**ALWAYS, **env}
    resolved = read_by_the_emulator(started_with(emulator), monkeypatch)
    assert resolved["host"] == "0.0.0.0"
    assert resolved["port"] == 9010
    assert {name: resolved[name] for name in read} == read


def test_another_port_is_the_one_exposed_and_listened_on(monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = container(port=9443)
    assert started_with(emulator) == {E + "HOST": "0.0.0.0", E + "PORT": "9443"}
    assert emulator.ports == {"9443": None}
    assert read_by_the_emulator(started_with(emulator), monkeypatch)["port"] == 9443


def test_a_remote_engine_is_answered_and_named_in_the_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://docker.internal:2375")
    emulator = container().with_tls()
    env = started_with(emulator)
    assert env[E + "ALLOWED_HOSTS"] == "docker.internal"
    assert env[E + "TLS_HOSTNAME"] == "docker.internal"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.with_seed(-1), "the seed must be a whole number, 0 or more, not -1"),
        (lambda c: c.with_seed(True), "the seed must be a whole number, 0 or more, not True"),
        (lambda c: c.with_seed("7"), "the seed must be a whole number, 0 or more, not '7'"),
        (
            lambda c: c.with_callback_url("ftp://host/x"),
            "must be a URL starting with http:// or https://",
        ),
        (
            lambda c: c.with_tls("not a name"),
            "must be a DNS name (such as meetings) or an IP address",
        ),
        (
            lambda c: c.with_api_credentials("a:b", "s"),
            "the api key and secret must not be empty; the key has no ':'",
        ),
        (
            lambda c: c.with_api_credentials("k", " "),
            "the api key and secret must not be empty; the key has no ':'",
        ),
    ],
)
def test_a_bad_setting_is_refused_before_any_container_is_made(call: Any, message: str) -> None:
    emulator = container()
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        call(emulator)
    assert started_with(emulator) == ALWAYS


def test_the_api_client_calls_the_emulator_with_its_credentials() -> None:
    app = create_app(Settings(seed=1, api_key="key-1", api_secret="s3cret"))
    emulator = container().with_api_credentials("key-1", "s3cret")
    with serving(app) as url:
        # get_url() asks the engine for the mapped port; here the URL is given.
        with emulator.get_api_client(base_url=url) as api:
            created = api.post("/v1/meetings/rooms", json={"display_name": "Standup"})
            assert created.status_code == 201, created.text
            assert api.get(f"/v1/meetings/rooms/{created.json()['id']}").status_code == 200
        with container().get_api_client(base_url=url) as stranger:  # the default pair
            assert stranger.get("/v1/meetings/rooms").status_code == 401


def test_the_ca_is_there_only_with_tls_once_started() -> None:
    with pytest.raises(RuntimeError, match=r"^the emulator serves plain HTTP"):
        container().get_ca_pem()
    with pytest.raises(RuntimeError, match=r"^the container is not started yet$"):
        container().with_tls().get_ca_pem()


@pytest.mark.parametrize(
    ("host", "port", "tls", "url"),
    [
        ("localhost", 32771, False, "http://localhost:32771"),
        ("localhost", 32771, True, "https://localhost:32771"),
        ("10.0.0.5", 9010, False, "http://10.0.0.5:9010"),
        ("::1", 40000, False, "http://[::1]:40000"),
        ("fe80::1", 443, True, "https://[fe80::1]:443"),
    ],
)
def test_the_url_is_scheme_host_and_mapped_port(host: str, port: int, tls: bool, url: str) -> None:
    assert base_url(host, port, tls=tls) == url


@given(
    host=st.one_of(
        st.ip_addresses().map(str),
        st.from_regex(r"\A[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}\Z"),
    ),
    port=st.integers(1, 65535),
    tls=st.booleans(),
)
def test_any_host_and_port_read_back_from_the_url(host: str, port: int, tls: bool) -> None:
    url = httpx.URL(base_url(host, port, tls=tls))
    assert url.scheme == ("https" if tls else "http")
    assert url.port == port or (url.port is None and port == (443 if tls else 80))
    try:
        expected = str(ipaddress.ip_address(host))
    except ValueError:
        expected = host
    assert url.host == expected


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_the_package_loads_no_testcontainers() -> None:
    result = python(
        """
        import sys
        import meetings_emulator, meetings_emulator.cli, meetings_emulator.pytest_plugin
        meetings_emulator.create_app
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("testcontainers", "docker")))
        """
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "[]\n", "")


def test_without_the_extra_the_import_error_says_what_to_install() -> None:
    result = python(
        """
        import sys

        class Uninstalled:  # as if testcontainers were not installed
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "testcontainers":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, Uninstalled())
        try:
            import meetings_emulator.testcontainers
        except ImportError as problem:
            print(problem.name)
            print(problem)
            print(problem.__cause__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "testcontainers",
        "meetings_emulator.testcontainers needs the testcontainers package:"
        " pip install 'meetings-emulator[testcontainers]'",
        "No module named 'testcontainers'",
    ]
