# Multi-stage build: wheels in a builder image, a slim non-root runtime image.
FROM python:3.11-slim AS builder
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
COPY examples ./examples
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 tutorpulse
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER tutorpulse
WORKDIR /home/tutorpulse
ENV TUTORPULSE_ENV=production \
    TUTORPULSE_DATA_DIR=/home/tutorpulse/data \
    TUTORPULSE_HOST=0.0.0.0 \
    TUTORPULSE_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
# Migrations run before the app starts (prestart); workers use the same image.
CMD ["sh", "-c", "tutorpulse db upgrade && tutorpulse serve"]
