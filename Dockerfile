# meetings-emulator as a service:
#   docker build -t meetings-emulator . && docker run -p 9010:9010 meetings-emulator
# Configure it with MEETINGS_EMULATOR_* environment variables (see README.md).
#
# Two stages. `build` turns the source into a wheel with a locked hatchling. The image
# itself installs the locked serving dependencies first, in a layer of their own that a
# change to the source does not touch, then the wheel alone (--no-deps), then checks that
# the two agree. requirements/README.md says how the locks are made.

# Python 3.12.8 on Debian 12 (bookworm), slim; the digest is the multi-arch index's.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm@sha256:2199a62885a12290dc9c5be3ca0681d367576ab7bf037da120e564723292a2f0

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/build.lock requirements/build.lock
RUN pip install --no-deps --require-hashes -r requirements/build.lock
COPY pyproject.toml README.md LICENSE NOTICE ./
COPY openapi openapi
COPY meetings_emulator meetings_emulator
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="meetings-emulator" \
      org.opencontainers.image.description="A local, in-memory emulator of the Vonage Meetings API, with a movable clock and a control plane." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/meetings-emulator/meetings-emulator" \
      org.opencontainers.image.url="https://github.com/meetings-emulator/meetings-emulator" \
      org.opencontainers.image.documentation="https://meetings-emulator.github.io/meetings-emulator/" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12.8-slim-bookworm"

# Inside a container the emulator must listen on every interface to be reachable.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEETINGS_EMULATOR_HOST=0.0.0.0 \
    MEETINGS_EMULATOR_PORT=9010

COPY requirements/serve.lock /tmp/serve.lock
RUN pip install --no-deps --require-hashes -r /tmp/serve.lock && rm /tmp/serve.lock
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && pip check && rm -rf /tmp/wheels

RUN useradd --create-home --uid 10001 emulator
USER emulator
WORKDIR /home/emulator

EXPOSE 9010
# `health` reads the same MEETINGS_EMULATOR_* variables as the server (port, TLS), so it
# asks over https:// when TLS is on. `docker stop` sends SIGTERM: the emulator saves its
# state file and exits within 5 s, inside Docker's 10 s before SIGKILL.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD meetings-emulator health

ENTRYPOINT ["meetings-emulator"]
