"""Measure container start latency of the runtime backends.

    python -m benchmarks.container_start [--runs N] [--image IMAGE] [--backend NAME ...]

For each backend (``podman`` CLI, ``docker`` SDK against a private ``podman system service``)
it times, per container (``--network none``, all capabilities dropped):

- ``run``: ``run()`` returns (container created and started),
- ``true``: ``run()`` + ``wait()`` of a container running ``true``,
- ``python``: the same for ``python3 -c pass``,
- ``cycle``: ``run_to_completion()`` of ``true`` (run, wait, logs, remove).

Prints median and 90th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

from vantage6_node.runtime import ContainerRuntime, RunSpec, load_runtime
from vantage6_runtime_podman.environ import ensure_containers_conf
from vantage6_runtime_podman.service import PodmanService

LABELS = {"v6next.bench": "latency"}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(rt: ContainerRuntime, image: str, runs: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    started: list[str] = []

    def run_only() -> None:
        started.append(rt.run(RunSpec(image, ["sleep", "30"], labels=LABELS)))

    results["run"] = _time(run_only, runs)
    for cid in started:
        rt.remove(cid, force=True)

    def run_wait(command: list[str]) -> Callable[[], None]:
        def go() -> None:
            cid = rt.run(RunSpec(image, command, labels=LABELS))
            rt.wait(cid, timeout=60)
            started.append(cid)

        return go

    started.clear()
    results["true"] = _time(run_wait(["true"]), runs)
    results["python"] = _time(run_wait(["python3", "-c", "pass"]), runs)
    for cid in started:
        rt.remove(cid, force=True)
    results["cycle"] = _time(
        lambda: rt.run_to_completion(RunSpec(image, ["true"], labels=LABELS), timeout=60), runs
    )
    return results


@contextlib.contextmanager
def _backend(name: str) -> Iterator[ContainerRuntime]:
    if name == "docker":
        with PodmanService() as service:
            rt = load_runtime("docker", base_url=service.url)
            try:
                yield rt
            finally:
                rt.close()
    else:
        yield load_runtime(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.container_start")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--image", default="localhost/v6-base:latest")
    parser.add_argument("--backend", action="append", choices=["podman", "docker"])
    args = parser.parse_args(argv)
    ensure_containers_conf()
    for name in args.backend or ["podman", "docker"]:
        with _backend(name) as rt:
            rt.run_to_completion(RunSpec(args.image, ["true"], labels=LABELS))  # warm up
            for step, samples in measure(rt, args.image, args.runs).items():
                print(
                    f"{name:7} {step:7} median {statistics.median(samples):7.0f} ms"
                    f"   p90 {_percentile(samples, 0.9):7.0f} ms   (n={len(samples)})"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
