# The mock in a container: `docker build -t exomock .` then
# `docker run --rm -p 8000:8000 -e EXOMOCK_CONTROL_TOKEN=<16 characters or more> exomock`.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY mock_server ./mock_server
COPY contract_tests ./contract_tests
COPY openapi ./openapi
COPY fixtures ./fixtures
# A wheel, not an editable install: the spec and fixtures go inside the package. With the
# redis extra, for `--store redis://...` (examples/compose.yaml).
RUN pip install --no-cache-dir ".[redis]" && rm -rf /src

WORKDIR /data
EXPOSE 8000
# Reachable from outside the container: exomock refuses to start without a control token
# (EXOMOCK_CONTROL_TOKEN), which guards /_mock/. /_mock/health needs none.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/_mock/health', timeout=2)"]
ENTRYPOINT ["exomock", "serve", "--host", "0.0.0.0", "--port", "8000"]
