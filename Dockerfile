# sieve on Debian 12, CPU backend. Build: docker build -t sieve .
# Run the bundled example batch:   docker run --rm sieve
# Run your own batch on a mounted model:
#   docker run --rm -v /models:/models sieve run --model /models/M --input /models/in.jsonl --output -
FROM debian:12

WORKDIR /opt/sieve
COPY tools/setup.sh tools/setup.sh
RUN bash tools/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset cpu-only -DSIEVE_BUILD_TESTS=OFF -DSIEVE_BUILD_BENCHMARKS=OFF \
 && cmake --build build/cpu-only -j "$(nproc)" --target sieve \
 && build/cpu-only/bin/sieve make-checkpoint --like qwen3_moe --out /opt/sieve/models/qwen3-moe-tiny --seed 0

ENTRYPOINT ["/opt/sieve/build/cpu-only/bin/sieve"]
CMD ["run", "--model", "/opt/sieve/models/qwen3-moe-tiny", "--input", "/opt/sieve/configs/examples/requests.jsonl", "--output", "-"]
