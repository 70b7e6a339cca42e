"""Local stand-ins for the providers Ladder sends through, for tests and benchmarks.

A sink speaks enough of a provider's HTTP API for Ladder's backends, answers the
way the provider does (including the failures worth testing), records what it
received, and is fast enough not to be what a benchmark measures. Each runs in a
thread of the test process or as a process of its own:

    with PostmarkSink() as sink:            # bench.sinks.postmark
        ANYMAIL["POSTMARK_API_URL"] = sink.url

    python -m bench.sinks.postmark --port 8025
"""
