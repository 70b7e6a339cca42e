"""Each scenario runs as a child process: its result is its last line, and a
child that crashes or hangs becomes a failed scenario, not a failed run."""

import sys
import time

from bench.__main__ import scenario_run


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_it_passes_the_report_through_and_keeps_the_last_json_line(capsys):
    result = scenario_run(
        _child("print('Figures: 12 events/s'); print('{\"complete\": true, \"checks\": {}}')"),
        timeout=60,
    )
    assert result == {"complete": True, "checks": {}, "exit_code": 0}
    assert capsys.readouterr().out == "Figures: 12 events/s\n"


def test_a_child_that_fails_before_its_result_is_an_error():
    result = scenario_run(_child("import sys; print('seeding'); sys.exit(3)"), timeout=60)
    assert result == {"error": "exited with 3 before printing its result"}


def test_a_child_that_fails_its_checks_keeps_its_result_and_exit_code():
    result = scenario_run(
        _child("import sys; print('{\"complete\": false}'); sys.exit(1)"), timeout=60
    )
    assert result == {"complete": False, "exit_code": 1}


def test_a_child_that_hangs_is_stopped_with_its_own_children():
    started = time.monotonic()
    result = scenario_run(
        _child(
            "import subprocess, sys, time;"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            "time.sleep(60)"
        ),
        timeout=1,
    )
    assert result == {"error": "stopped after 1 s (--scenario-timeout)"}
    assert time.monotonic() - started < 30
