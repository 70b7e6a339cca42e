"""``python manage.py ab_report EXPERIMENT``: an A/B experiment's results.

EXPERIMENT is ``message:<message key>`` or ``journey:<journey key>:<split
step>``; ``--list`` shows every experiment. The figures come from
``campaigns.analysis.results.experiment_results``, which the admin report
pages use too. See docs/ab-testing.md.
"""

from django.core.management.base import BaseCommand, CommandError

from campaigns.analysis.experiments import UnknownExperiment, experiments_list
from campaigns.analysis.formats import as_csv, as_json, as_text
from campaigns.analysis.results import METRICS, PRIMARY_METRIC, ResultsError, experiment_results
from campaigns.analysis.sequential import ALPHA, MIN_SAMPLE

#: --format -> how a result is written.
FORMATS = {"text": as_text, "json": as_json, "csv": as_csv}


class Command(BaseCommand):
    help = "Results of an A/B experiment (message variants or a journey's split step)."

    def add_arguments(self, parser):
        parser.add_argument("experiment", nargs="?", help="message:KEY or journey:KEY:STEP")
        parser.add_argument(
            "--list", action="store_true", dest="list_only", help="list experiments and exit"
        )
        parser.add_argument(
            "--format", choices=sorted(FORMATS), default="text", dest="output_format"
        )
        parser.add_argument("--control", help="arm to compare with (default: the first)")
        parser.add_argument(
            "--metric",
            choices=list(METRICS),
            default=PRIMARY_METRIC,
            help=f"metric a winner is decided on ({PRIMARY_METRIC})",
        )
        parser.add_argument("--alpha", type=float, default=ALPHA, help=f"({ALPHA})")
        parser.add_argument(
            "--min-sample", type=int, default=MIN_SAMPLE, help=f"units per arm ({MIN_SAMPLE:,})"
        )

    def handle(self, *args, experiment, list_only, output_format, **options):
        if list_only:
            for found in experiments_list():
                arms = ", ".join(arm.name for arm in found.arms)
                self.stdout.write(f"{found.key}\t{found.title}\t{arms}")
            return
        if not experiment:
            raise CommandError("name an experiment, or use --list to see them")
        alpha = options["alpha"]
        if not 0 < alpha < 1:
            raise CommandError(f"--alpha must be between 0 and 1, not {alpha}")
        try:
            result = experiment_results(
                experiment,
                control=options["control"],
                metric=options["metric"],
                alpha=alpha,
                min_sample=options["min_sample"],
            )
        except (UnknownExperiment, ResultsError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(FORMATS[output_format](result), ending="")
