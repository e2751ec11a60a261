"""A Testcontainers module: the emulator's image, started for a test and thrown away after.

    pip install 'meetings-emulator[testcontainers]'

    from meetings_emulator.testcontainers import MeetingsEmulatorContainer

    with MeetingsEmulatorContainer().with_seed(7) as emulator:
        api = emulator.get_api_client()
        room = api.post("/v1/meetings/rooms", json={"display_name": "Standup"}).json()

It is built as testcontainers-python's own LocalStack and Azurite modules are: a
`DockerContainer` with the emulator's defaults, `with_*` methods that return the container,
and a wait strategy that polls `GET /_emulator/health` until it answers 200.

Every setting reaches the container as a `MEETINGS_EMULATOR_*` environment variable, never
as a flag, because the image's HEALTHCHECK (`meetings-emulator health`) reads the same
variables: with TLS on, it then asks over https and trusts the emulator's CA.

Only this module imports testcontainers; importing `meetings_emulator` never does.
"""

from __future__ import annotations

import io
import ipaddress
import ssl
import tarfile
from typing import Any, Self

import httpx

from meetings_emulator.config import DEFAULT_PORT, ENV_PREFIX, HEALTH_PATH
from meetings_emulator.config_values import parse_tls_hostname, parse_url
from meetings_emulator.version import __version__

try:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy
except ImportError as missing:
    raise ImportError(
        "meetings_emulator.testcontainers needs the testcontainers package:"
        " pip install 'meetings-emulator[testcontainers]'",
        name=missing.name,
    ) from missing

__all__ = ["DEFAULT_IMAGE", "MeetingsEmulatorContainer", "base_url"]

DEFAULT_IMAGE = f"ghcr.io/meetings-emulator/meetings-emulator:{__version__}"
# Any well-formed Basic pair is accepted unless `with_api_credentials` sets one.
DEFAULT_API_KEY = "testcontainers"
DEFAULT_API_SECRET = "testcontainers"
# Where, inside the container, the emulator writes its CA when TLS is on; the health check
# reads it there too (MEETINGS_EMULATOR_TLS_CA_OUT).
CA_PATH = "/tmp/meetings-emulator-ca.pem"
STARTUP_TIMEOUT = 60.0
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper().replace("-", "_")


def _certificate_name(name: str) -> bool:
    """Whether a certificate can name `name` (a compose-style `my_service` it cannot)."""
    try:
        parse_tls_hostname(name)
    except ValueError:
        return False
    return True


def base_url(host: str, port: int, *, tls: bool = False) -> str:
    """`http(s)://host:port`, an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"{'https' if tls else 'http'}://{host}:{port}"


class MeetingsEmulatorContainer(DockerContainer):
    """The emulator in a container, ready once it answers its health check.

    `image` defaults to the release of this package's version. `port` is the port the
    emulator listens on inside the container; the engine maps it to a free one on the host,
    which `get_url()` names. Other keyword arguments go to `DockerContainer`.
    """

    def __init__(
        self, image: str = DEFAULT_IMAGE, *, port: int = DEFAULT_PORT, **kwargs: Any
    ) -> None:
        super().__init__(image, **kwargs)
        self.port = port
        self.api_key = DEFAULT_API_KEY
        self.api_secret = DEFAULT_API_SECRET
        self.tls = False
        self.tls_hostnames: list[str] = []
        self._ca_pem: str | None = None
        self._health = HttpWaitStrategy(port, HEALTH_PATH).for_status_code(200)
        self._health.with_startup_timeout(STARTUP_TIMEOUT)
        self.with_exposed_ports(port)
        # The image sets these too; they are repeated for an image built another way.
        self.with_env(_env("host"), "0.0.0.0")
        self.with_env(_env("port"), str(port))
        self.waiting_for(self._health)

    def with_seed(self, seed: int) -> Self:
        """Make ids, meeting codes and tokens repeatable: the same calls give the same values."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"the seed must be a whole number, 0 or more, not {seed!r}")
        return self.with_env(_env("seed"), str(seed))

    def with_callback_url(self, url: str) -> Self:
        """Send every callback to `url`, which must be reachable from inside the container
        (the host is `host.docker.internal` on Docker Desktop, `host.containers.internal`
        under podman)."""
        return self.with_env(_env("callback-url"), parse_url(url))

    def with_api_credentials(self, api_key: str, api_secret: str) -> Self:
        """Accept Basic auth only with this pair (any pair is accepted otherwise);
        `get_api_client()` sends it."""
        if not api_key.strip() or not api_secret.strip() or ":" in api_key:
            raise ValueError("the api key and secret must not be empty; the key has no ':'")
        self.api_key, self.api_secret = api_key, api_secret
        self.with_env(_env("api-key"), api_key)
        return self.with_env(_env("api-secret"), api_secret)

    def with_tls(self, *hostnames: str) -> Self:
        """Serve HTTPS with a certificate from a CA the emulator makes at start.

        The certificate names localhost, 127.0.0.1, the names this container is called by
        (the engine's host, its network aliases) and `hostnames`. `get_api_client()` trusts
        that CA, and `get_ca_pem()` gives it to other clients."""
        for name in hostnames:
            name = parse_tls_hostname(name)
            if name not in self.tls_hostnames:
                self.tls_hostnames.append(name)
        self.tls = True
        # The readiness poll only asks whether the server answers; the CA is read after it.
        self._health.using_tls(insecure=True)
        self.with_env(_env("tls"), "1")
        return self.with_env(_env("tls-ca-out"), CA_PATH)

    def _configure(self) -> None:
        """Just before the container is made: the emulator answers requests that name it as
        its callers will (the engine's host when it is another machine, the container's
        network aliases), and with TLS its certificate names them."""
        super()._configure()
        names: list[str] = []
        host = self.get_docker_client().host()
        if host not in LOCAL_NAMES:
            names.append(host)
        names.extend(self._network_aliases or ())
        if names:
            self.with_env(_env("allowed-hosts"), ",".join(dict.fromkeys(names)))
        certified = [name for name in names if _certificate_name(name)] + self.tls_hostnames
        if self.tls and certified:
            self.with_env(_env("tls-hostname"), ",".join(dict.fromkeys(certified)))

    def start(self) -> Self:
        super().start()
        if self.tls:
            self._ca_pem = self._read_ca()
        return self

    def _read_ca(self) -> str:
        """The CA the emulator wrote, read through the engine's API (not over the network)."""
        chunks, _ = self.get_wrapped_container().get_archive(CA_PATH)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            if member is None:
                raise RuntimeError(f"{CA_PATH} in the container is not a file")
            return member.read().decode()

    def get_url(self) -> str:
        """The emulator's base URL from this machine, e.g. `http://localhost:32771`."""
        host, port = self.get_container_host_ip(), self.get_exposed_port(self.port)
        return base_url(host, port, tls=self.tls)

    def get_ca_pem(self) -> str:
        """The emulator's CA certificate (PEM), once started with TLS."""
        if not self.tls:
            raise RuntimeError("the emulator serves plain HTTP: call with_tls() to have a CA")
        if self._ca_pem is None:
            raise RuntimeError("the container is not started yet")
        return self._ca_pem

    def get_api_client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client for the emulator's base URL, with the Basic credentials (and, with
        TLS, trusting the emulator's CA). Keyword arguments go to `httpx.Client`."""
        options: dict[str, Any] = {"auth": httpx.BasicAuth(self.api_key, self.api_secret)}
        if self.tls:
            options["verify"] = ssl.create_default_context(cadata=self.get_ca_pem())
        options.update(kwargs)
        if "base_url" not in options:
            options["base_url"] = self.get_url()
        return httpx.Client(**options)
