# meetings-emulator as a service:
#   docker build -t meetings-emulator . && docker run -p 9010:9010 meetings-emulator
# Configure it with MEETINGS_EMULATOR_* environment variables (see README.md).
FROM python:3.12-slim

# Inside a container the emulator must listen on every interface to be reachable.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEETINGS_EMULATOR_HOST=0.0.0.0 \
    MEETINGS_EMULATOR_PORT=9010

WORKDIR /src
COPY pyproject.toml README.md ./
COPY meetings_emulator ./meetings_emulator
COPY openapi ./openapi
RUN pip install . && rm -rf /src

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
