# rx-gateway runtime image. Build: docker build -t rx-gateway .
# Run against a real PostgreSQL: docker run -e RX_GATEWAY_DATABASE_URL=postgresql://... -p 50051:50051 rx-gateway
# Without RX_GATEWAY_DATABASE_URL the gateway starts its embedded PostgreSQL under /data.
# serve refuses plaintext on a container's 0.0.0.0: mount certificates and set
# RX_GATEWAY_TLS_CERT_FILE, _KEY_FILE, _CLIENT_CA_FILE and RX_GATEWAY_SWITCHES_FILE
# (e.g. -v ./tls:/tls:ro). RX_GATEWAY_DEV_MODE=1 allows plaintext on loopback addresses only, so
# it cannot expose an unencrypted port from a container: try the gateway without TLS outside
# Docker (the README's two commands). The admin interface (port 50052) listens only when
# RX_GATEWAY_ADMIN_TOKENS is set. Claims run as the database role rx_gateway_app (created by
# `rx-gateway migrate` when the migrating login may CREATEROLE); a superuser login is refused.
# Prometheus metrics: RX_GATEWAY_METRICS_LISTEN=0.0.0.0:9464 (HTTPS with the gateway's
# certificate; port 9464 exposed below). Traces need the otel extra, not in this image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 rxgw && mkdir /data && chown rxgw /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER rxgw
# relative paths (the admin Settle/Invoice files, RX_GATEWAY_SETTLEMENT_DIR's default
# "settlement") land under /data, which the gateway's user owns; / is not writable
WORKDIR /data
ENV RX_GATEWAY_LISTEN=0.0.0.0:50051 \
    RX_GATEWAY_ADMIN_LISTEN=0.0.0.0:50052 \
    RX_GATEWAY_DATA_DIR=/data \
    RX_GATEWAY_SETTLEMENT_DIR=/data/settlement \
    PYTHONUNBUFFERED=1
EXPOSE 50051 50052 9464
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["rx-gateway"]
CMD ["serve"]
