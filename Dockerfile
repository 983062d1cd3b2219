# rx-gateway runtime image. Build: docker build -t rx-gateway .
# Run against a real PostgreSQL: docker run -e RX_GATEWAY_DATABASE_URL=postgresql://... -p 50051:50051 rx-gateway
# Without RX_GATEWAY_DATABASE_URL the gateway starts its embedded PostgreSQL under /data.
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
ENV RX_GATEWAY_LISTEN=0.0.0.0:50051 \
    RX_GATEWAY_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
EXPOSE 50051
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["rx-gateway"]
CMD ["serve"]
