"""What rendering hands back: the email, a failure, or the problems found at save time."""

from dataclasses import dataclass


def _located(part: str | None, line: int | None, message: str) -> str:
    if part is None:
        return message
    if line is None:
        return f"{part}: {message}"
    return f"{part}, line {line}: {message}"


class RenderFailed(Exception):
    """One email could not be rendered; ``reason`` says why, in words a marketer can act on.

    The message fails, not the worker: every limit, sandbox refusal and template
    error ends up here, so delivery code has one exception to record.
    """

    def __init__(self, reason: str, *, part: str | None = None, line: int | None = None):
        self.reason = reason
        self.part = part
        self.line = line
        super().__init__(_located(part, line, reason))

    def located(self, part: str, line: int | None) -> "RenderFailed":
        """The same failure, tagged with where it happened (first location wins)."""
        if self.part is not None:
            return self
        return RenderFailed(self.reason, part=part, line=line)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """One thing wrong with a variant's templates, found when it is saved."""

    #: "subject", "preheader", "html" or "text".
    part: str
    #: Line in that part, when the problem has one.
    line: int | None
    message: str

    def __str__(self) -> str:
        return _located(self.part, self.line, self.message)
