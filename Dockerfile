# sieve on Debian 12, CPU backend. Build: docker build -t sieve .
# Serve the built-in default model on port 8000:   docker run --rm -p 8000:8000 sieve
# Serve your own checkpoint:
#   docker run --rm -p 8000:8000 -v /models:/models sieve serve --model /models/M
# Run a batch:
#   docker run --rm -v /models:/models sieve run --model /models/M --input /models/in.jsonl --output -
FROM debian:12

WORKDIR /opt/sieve
COPY tools/setup.sh tools/setup.sh
RUN bash tools/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset cpu-only -DSIEVE_BUILD_TESTS=OFF -DSIEVE_BUILD_BENCHMARKS=OFF \
 && cmake --build build/cpu-only -j "$(nproc)" --target sieve default_model

EXPOSE 8000
ENTRYPOINT ["/opt/sieve/build/cpu-only/bin/sieve"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
