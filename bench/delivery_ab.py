"""Two source trees' cost per email, measured in turns: did a change make sending cheaper?

Whole benchmark runs minutes apart differ by up to a quarter on this machine
(docs/performance.md), far more than most changes; so do two runs of
bench.delivery_profile. This runs the dispatch of both trees against one
seeded database and one Postmark sink, a slice of emails at a time, in the
order A B B A A B B A …, so a change in the machine's speed falls on both
alike. Each side is a process of its own (``dispatch_batch`` in a loop, as
bench.delivery_profile runs it) importing its own tree's code.

For every slice it takes the CPU per email sent of the dispatching process
(all its threads), of its PostgreSQL backend and of the sink, and it prints
each side's mean and the paired difference with its 95% confidence interval
(Student's t over the pairs of neighbouring slices).

    git worktree add /tmp/before HEAD~1 && ln -s "$PWD/.venv" /tmp/before/.venv
    python -m bench.delivery_ab --against /tmp/before
    python -m bench.delivery_ab --against /tmp/before --slices 20 --per-slice 3000

The database is migrated with this tree: both trees must work on its schema.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cli import at_least, server_url_argument

#: Paths the comparison can take (the embedded default needs SQLite, whose one
#: writer two sides would share).
BACKENDS = ("batch", "per-message")
#: What a slice may send past its size: the rest of its last batch.
BATCH = 500
#: Share of seeded customers who consented (bench.delivery seeds ~95%), with room.
SENDABLE = 0.9
CHILD = Path(__file__).with_name("delivery_ab_child.py")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
COMPONENTS = ("worker", "postgres", "sink")


def _backend_seconds(pid: int) -> float:
    """CPU time of one single-threaded process, in nanosecond resolution."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def _process_seconds(pid: int) -> float:
    """CPU time of a process and all its threads, ended ones too (in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Side:
    """One tree's dispatching process (bench/delivery_ab_child.py)."""

    name: str
    process: subprocess.Popen
    backend_pid: int

    @classmethod
    def start(cls, name: str, tree: Path) -> "Side":
        process = subprocess.Popen(
            [sys.executable, str(CHILD)],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        reply = process.stdout.readline().split()
        if reply[:1] != ["ready"]:
            process.kill()
            raise RuntimeError(f"{name} ({tree}) did not start; its error is above")
        return cls(name, process, int(reply[1]))

    def slice(self, emails: int, sink_pid: int) -> dict[str, float]:
        """Send ``emails`` (or a batch more); µs of CPU per email sent, by component."""
        backend, sink = _backend_seconds(self.backend_pid), _process_seconds(sink_pid)
        self.process.stdin.write(f"slice {emails}\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline().split()
        if reply[:1] != ["done"]:
            raise RuntimeError(f"{self.name} stopped in the middle of a slice; its error is above")
        sent, cpu, backend_pid = int(reply[1]), float(reply[2]), int(reply[3])
        if backend_pid != self.backend_pid:
            raise RuntimeError(f"{self.name} changed PostgreSQL connections: its CPU is lost")
        if sent == 0:
            raise RuntimeError("the queue ran out: seed more (fewer --slices or --per-slice)")
        per = 1e6 / sent
        return {
            "worker": cpu * per,
            "postgres": (_backend_seconds(backend_pid) - backend) * per,
            "sink": (_process_seconds(sink_pid) - sink) * per,
        }

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def compare(ours: list[float], theirs: list[float]) -> tuple[float, float]:
    """Mean paired difference (ours - theirs) and its 95% confidence half-width."""
    from scipy import stats

    differences = [a - b for a, b in zip(ours, theirs, strict=True)]
    mean = statistics.fmean(differences)
    spread = statistics.stdev(differences) / math.sqrt(len(differences))
    return mean, stats.t.ppf(0.975, len(differences) - 1) * spread


def _component(side: list[dict[str, float]], name: str) -> list[float]:
    """One component's figure per slice; "all" is their sum."""
    if name == "all":
        return [sum(sample[c] for c in COMPONENTS) for sample in side]
    return [sample[name] for sample in side]


def report(samples: dict[str, list[dict[str, float]]], against: Path) -> str:
    ours, theirs = samples["this tree"], samples["against"]
    lines = [
        f"CPU µs per email sent, mean of {len(ours)} slices each; "
        f"difference = this tree - {against}",
        f"{'':10} {'this tree':>10} {'against':>10} {'difference (95% CI)':>22} {'change':>8}",
    ]
    for component in (*COMPONENTS, "all"):
        a, b = _component(ours, component), _component(theirs, component)
        mean, half = compare(a, b)
        base = statistics.fmean(b)
        lines.append(
            f"{component:10} {statistics.fmean(a):10.1f} {base:10.1f} "
            f"{mean:+12.1f} ± {half:<7.1f} {mean / base:+8.1%}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.delivery_ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--against", type=Path, required=True, help="the other source tree")
    parser.add_argument("--backend", choices=BACKENDS, default="batch")
    parser.add_argument("--slices", type=at_least(2), default=12, help="slices per tree (12)")
    parser.add_argument(
        "--per-slice", type=at_least(BATCH), default=2000, help="emails per slice (2,000)"
    )
    server_url_argument(parser)
    args = parser.parse_args(argv)
    if not (args.against / "campaigns" / "dispatch").is_dir():
        parser.error(f"--against {args.against}: not a Ladder tree (no campaigns/dispatch)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from bench.delivery_profile import setup
    from bench.delivery_sink import spawn

    trees = {"this tree": Path(__file__).resolve().parent.parent, "against": args.against.resolve()}
    queued = math.ceil(2 * args.slices * (args.per_slice + BATCH) / SENDABLE) + 2 * BATCH
    with (
        tempfile.TemporaryDirectory(prefix="ladder-delivery-ab-") as tmp,
        spawn() as (sink, sink_pid),
    ):
        print(f"Seeding {queued:,} deliveries …", flush=True)
        seeding = argparse.Namespace(
            backend=args.backend,
            deliveries=queued,
            database="postgresql",
            server_url=args.server_url,
        )
        setup(seeding, sink.url, Path(tmp))
        sides = {name: Side.start(name, tree) for name, tree in trees.items()}
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        try:
            for number in range(args.slices):
                order = list(sides) if number % 2 == 0 else list(reversed(sides))
                for name in order:
                    samples[name].append(sides[name].slice(args.per_slice, sink_pid))
                print(f"  slice {number + 1}/{args.slices}", flush=True)
        finally:
            for side in sides.values():
                side.stop()
    print(report(samples, args.against))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main(sys.argv[1:])
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
