"""Scenario results as the scenarios print them (trimmed to what the report
reads), for the harness's tests: no benchmark runs in the test suite."""

from typing import Any


def _spread(median: float, low: float | None = None, high: float | None = None) -> dict:
    return {"median": median, "min": low or median, "max": high or median}


def _checks(*names: str, failed: str = "") -> dict[str, bool]:
    return {name: name != failed for name in names}


def ingest(events_per_second: int = 18_000) -> dict[str, Any]:
    return {
        "scenario": "ingest",
        "events": 200_000,
        "seconds": 200_000 / events_per_second,
        "events_per_second": events_per_second,
        "batch_ms_p50": 200.0,
        "batch_ms_p99": 380.0,
        "complete": True,
        "cpu_us_per_event": 103.0,
        "other_load": 0.01,
        "checks": _checks("one_row_per_accepted_event", "finished_within_time_limit"),
        "peak_memory_mb": {"gunicorn workers": [105.5, 104.2, 106.1], "client": 92.5},
        "config": {"customers": 10_000, "batch": 1000, "clients": 4},
    }


def engine(activation: float = 25.0, advancing: float = 21.5, failed: str = "") -> dict:
    return {
        "scenario": "engine",
        "customers": 1_000_000,
        "seed_seconds": 52.6,
        "activation": {"enrolled": 633_334, "seconds": activation, "enrolled_per_second": 25_314},
        "advancing": {
            "due": 100_000,
            "seconds": advancing,
            "advanced_per_second": round(100_000 / advancing),
            "workers": 2,
            "worker_peak_rss_mb": [107.0, 108.5],
            "checks": _checks(
                "one_delivery_per_enrollment", "split_within_2_percent", failed=failed
            ),
        },
        "complete": not failed,
    }


def _path_run(rate: float, peak: list[float]) -> dict:
    return {
        "messages_per_second": rate,
        "peak_rss_mb": peak,
        "checks": _checks("one_row_per_customer", "no_duplicate_delivery"),
        "passed": True,
    }


def delivery() -> dict:
    rates = {"batch": 5_900, "per-message": 850, "naive": 80, "post-office": 420, "embedded": 2_100}
    return {
        "scenario": "delivery",
        "config": {
            "customers": 100_000,
            "deliveries": 100_000,
            "naive": 3_000,
            "post_office": 10_000,
            "embedded": 100_000,
            "rounds": 2,
        },
        "rounds": [
            {path: _path_run(rate, [140.0, 141.0]) for path, rate in rates.items()},
            {path: _path_run(rate * 0.9, [139.0, 150.0]) for path, rate in rates.items()}
            | {"post-office": _path_run(400, [150.0]) | {"send_peak_rss_mb": {"parent": 113.0}}},
        ],
        "summary": {
            path: {
                "messages_per_second": _spread(rate, rate * 0.9, rate),
                "cpu_us_per_message_ours": _spread(1000),
                "other_load": _spread(0.3, 0.2, 0.4),
                "peak_rss_mb": 150.0,
            }
            for path, rate in rates.items()
        },
        "ratios": {
            "batch/naive": _spread(73.8, 70.0, 75.0),
            "batch/post-office": _spread(9.2, 8.9, 9.5),
            "per-message/naive": _spread(10.6),
        },
        "render_ceiling": [{"jinja2_body_us": 150.0}, {"jinja2_body_us": 160.0}],
        "render_email_per_second_median": 5_200,
        "share_of_render_ceiling_per_core": {"batch": 0.57},
        "complete": True,
    }


def webhooks() -> dict:
    return {
        "scenario": "webhooks",
        "config": {"events": 10_000, "rounds": 3, "clients": 4, "workers": 3},
        "posts_per_round": [10_050, 10_020, 10_001],
        "rounds": [
            {"ladder": {"other_load": load}, "anymail alone": {"cpu_us_per_event": 1_400}}
            for load in (0.5, 0.6, 0.7)
        ],
        "events_per_second": _spread(85.0, 80.0, 90.0),
        "peer_events_per_second": _spread(1_000.0, 950.0, 1_050.0),
        "ratio": _spread(0.085, 0.08, 0.09),
        "ms": {"p50": 40.0, "p99": 300.0},
        "cpu_us_per_event": 22_000.0,
        "peak_memory_mb": {
            "gunicorn workers (ladder)": [99.0, 98.9],
            "gunicorn workers (anymail alone)": [89.0, 89.0],
            "client": 110.0,
        },
        "checks": _checks("final_status_of_every_delivery", "customer_events_exactly_once"),
        "complete": True,
    }


def ab_report(seconds: float = 0.9) -> dict:
    return {
        "scenario": "ab_report",
        "deliveries": 1_000_000,
        "events": 3_000_000,
        "timings": {
            "message:bench-ab": {"experiment_results": 0.47, "ab_report": 0.55},
            "journey:bench-ab:split": {"experiment_results": seconds, "ab_report": 0.88},
        },
        "peak_memory_mb": {"ab_report process": 180.0},
        "checks": _checks("message:bench-ab: every email counted once"),
        "complete": True,
    }


def sweep() -> dict:
    figures = {"seconds": 48.0, "recomputed": 600_000, "moved": 590_000}
    return {
        "scenario": "sweep",
        "customers": 1_000_000,
        "first": figures,
        "nightly": figures | {"seconds": 31.0, "moved": 2_000},
        "peak_memory_mb": {"sweep process (2 threads)": 400.0},
        "checks": _checks("per_event_path_agrees"),
        "complete": True,
    }


def every() -> dict[str, dict[str, Any]]:
    return {
        "ingest": ingest(),
        "engine": engine(),
        "delivery": delivery(),
        "webhooks": webhooks(),
        "ab_report": ab_report(),
        "sweep": sweep(),
    }
