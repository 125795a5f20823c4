"""The timing budget every peer script shares with benchmarks/support/bench.hpp (Budget +
median_times): warm-up calls, then repetitions until both a minimum count and a minimum time are
reached (or a maximum count), and the median, averaging the middle pair for an even count.
Imported by the peer scripts beside it (run.sh runs them from this folder's path)."""
import time


def median_seconds(fn, warmup=2, min_reps=5, min_time_s=2.0, max_reps=1000):
    for _ in range(warmup):
        fn()
    samples, start = [], time.perf_counter()
    while len(samples) < max_reps and (len(samples) < min_reps or time.perf_counter() - start < min_time_s):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    n = len(samples)
    return samples[n // 2] if n % 2 else 0.5 * (samples[n // 2 - 1] + samples[n // 2])
