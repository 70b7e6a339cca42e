"""``python -m bench``'s flags: clear errors before anything runs, and the child
processes each scenario gets."""

from pathlib import Path

import pytest

from bench import delivery_ab, delivery_profile
from bench.__main__ import FULL, QUICK, command, full_size, parse_args
from bench.report import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def _error(capsys, argv: list[str], parse=parse_args) -> str:
    with pytest.raises(SystemExit) as exit:
        parse(argv)
    assert exit.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenarios", "ingest,fast"], "--scenarios: unknown fast (known: ingest, engine"),
        (["--scenarios", "ingest,ingest"], "--scenarios: ingest, ingest names one twice"),
        (["--scenarios", " , "], "--scenarios: name at least one of ingest"),
        (["--delivery-paths", "batch,carrier-pigeon"], "--delivery-paths: unknown carrier-pigeon"),
        (["--customers", "-3"], "argument --customers: must be at least 1, not -3"),
        (["--deliveries", "0"], "argument --deliveries: must be at least 1, not 0"),
        (["--events", "lots"], "argument --events: not a whole number: 'lots'"),
        (["--warmup", "-1"], "argument --warmup: must be at least 0, not -1"),
        (["--batch", "1001"], "--batch: the API takes at most 1000 events per request"),
        (["--database-prefix", "Ladder-Bench"], "--database-prefix: 'Ladder-Bench' is not a plain"),
        (["--worker-class", "eventlet"], "argument --worker-class: invalid choice: 'eventlet'"),
    ],
)
def test_it_refuses_bad_flags_with_a_message_naming_the_flag(capsys, argv, message):
    assert message in _error(capsys, argv)


def test_it_runs_every_scenario_at_full_size_by_default():
    args = parse_args([])
    assert args.scenarios == list(SCENARIOS)
    assert {key: getattr(args, key) for key in FULL} == FULL
    assert all(full_size(args, name) for name in SCENARIOS)


def test_quick_sizes_are_smaller_than_full_everywhere_and_explicit_flags_win():
    args = parse_args(["--quick", "--customers", "1,000,000", "--events", "20_000"])
    assert args.customers == 1_000_000
    assert args.events == 20_000
    assert args.due == QUICK["due"]
    # The engine needs both sizes at full scale for its targets to apply; the
    # sweep only its customers.
    assert not full_size(args, "engine")
    assert full_size(args, "sweep")
    assert all(QUICK[key] < FULL[key] for key in FULL)


def test_each_scenario_gets_a_database_of_its_own_and_the_given_broker():
    args = parse_args(["--database-prefix", "ladder_ci", "--broker", "redis://127.0.0.1:6379/9"])
    databases = set()
    for scenario in SCENARIOS:
        argv = command(args, scenario)
        assert argv[1:3] == ["-m", f"bench.{scenario}"]
        databases.add(argv[argv.index("--database") + 1])
        if scenario in ("engine", "delivery"):
            assert argv[argv.index("--broker") + 1] == "redis://127.0.0.1:6379/9"
    assert databases == {f"ladder_ci_{scenario}" for scenario in SCENARIOS}


def test_delivery_seeds_enough_customers_for_its_largest_path():
    args = parse_args(
        ["--deliveries", "100", "--delivery-naive", "50", "--delivery-post-office", "400"]
    )
    argv = command(args, "delivery")
    assert argv[argv.index("--customers") + 1] == "400"
    assert argv[argv.index("--deliveries") + 1] == "100"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sql", "-3"], "argument --sql: must be at least 1, not -3"),
        (["--cprofile", "ten"], "argument --cprofile: not a whole number: 'ten'"),
        (["--sql", "5", "--cprofile", "5"], "argument --cprofile: not allowed with argument --sql"),
        (["--deliveries", "500"], "argument --deliveries: must be at least 1000, not 500"),
    ],
)
def test_the_delivery_profiler_refuses_bad_flags_before_it_seeds_anything(capsys, argv, message):
    assert message in _error(capsys, argv, delivery_profile.parse_args)


def test_the_delivery_profiler_times_steps_by_default_and_statements_when_asked():
    default = delivery_profile.parse_args([])
    assert (default.deliveries, default.sql, default.cprofile) == (5000, 0, 0)
    assert delivery_profile.parse_args(["--sql", "12", "--deliveries", "10,000"]).sql == 12


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --against"),
        (["--against", "/nonexistent"], "--against /nonexistent: not a Ladder tree"),
        (["--against", str(ROOT), "--slices", "1"], "argument --slices: must be at least 2, not 1"),
        (["--against", str(ROOT), "--per-slice", "100"], "must be at least 500, not 100"),
        (["--against", str(ROOT), "--backend", "eml"], "argument --backend: invalid choice: 'eml'"),
    ],
)
def test_the_delivery_comparison_refuses_bad_flags_before_it_seeds_anything(capsys, argv, message):
    assert message in _error(capsys, argv, delivery_ab.parse_args)


def test_the_delivery_comparison_compares_twelve_slices_of_the_batch_path_by_default():
    args = delivery_ab.parse_args(["--against", str(ROOT)])
    assert (args.backend, args.slices, args.per_slice) == ("batch", 12, 2000)
