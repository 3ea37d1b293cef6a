#!/usr/bin/env python3
"""Projects data-parallel PGD-AT throughput over N machines from measured per-example compute.

One step on each of N ranks costs b * t (b examples per rank, t seconds per example on one
machine) plus one sum of the update buffer of S bytes: a reduction to rank 0 and a broadcast,
each carrying S over every link once when pipelined, so 2 * S / B for bandwidth B bytes/s, plus
a latency of alpha per tree level of each, 2 * ceil(log2 N) * alpha. Efficiency is
b * t / (b * t + comm); the speed-up over one machine is N times the efficiency. Ninety per cent
efficiency needs b >= 9 * comm / t.

Usage: scripts/scaling-model.py NAME:BYTES:SECONDS_PER_EXAMPLE ... [--latency 50e-6]
(BYTES from DataParallelOptimizer.bytesExchangedPerUpdate, SECONDS_PER_EXAMPLE measured on
one machine for the method, e.g. PGD-AT with K steps).
"""
import argparse
import math


def communication(size_bytes: float, ranks: int, bandwidth: float, latency: float) -> float:
    return 2 * size_bytes / bandwidth + 2 * math.ceil(math.log2(ranks)) * latency


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", help="NAME:BYTES:SECONDS_PER_EXAMPLE")
    parser.add_argument("--latency", type=float, default=50e-6, help="seconds per message (default 50 us)")
    parser.add_argument("--global-batch", type=int, default=128, help="the global batch of the speed-up column")
    arguments = parser.parse_args()
    print("| model | machines | link | sum per step | speed-up at global batch %d | per-rank batch for >= 90%% |" % arguments.global_batch)
    print("|---|---|---|---|---|---|")
    for spec in arguments.models:
        name, size_bytes, seconds = spec.split(":")
        size_bytes, seconds = float(size_bytes), float(seconds)
        for ranks in (8, 64):
            for gigabits in (10, 100):
                comm = communication(size_bytes, ranks, gigabits * 1e9 / 8, arguments.latency)
                per_rank = max(1, arguments.global_batch // ranks)
                efficiency = per_rank * seconds / (per_rank * seconds + comm)
                needed = math.ceil(9 * comm / seconds)
                print(f"| {name} | {ranks} | {gigabits} Gbit/s | {comm * 1e3:.1f} ms | {ranks * efficiency:.1f}x "
                      f"({per_rank}/rank, {efficiency:.0%}) | {needed} |")


if __name__ == "__main__":
    main()
