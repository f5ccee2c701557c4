"""Refusals of the runtime that the user must see as located messages, not tracebacks: bad data,
a weights file that does not fit, a run directory that cannot be resumed, a non-finite loss.
The CLI renders them with the compiler's diagnostic machinery; codes are E4xx for data and
weights, E5xx for training."""

from __future__ import annotations


class RunError(Exception):
    """`path`, `line` and `column` (1-based) locate the problem in a file when known; `layer`
    names the spec layer it is about (the CLI then points at the layer in the spec)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        help: str | None = None,
        layer: str | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.help = help
        self.layer = layer

    def __str__(self) -> str:
        where = self.path or "nnc"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: error[{self.code}]: {self.message}"


class UsageError(RunError):
    """A request that cannot be honoured as it was made: an opset out of range, a provider this
    machine lacks, an output the model does not have. The command line exits with 2, as for
    any wrong usage."""
