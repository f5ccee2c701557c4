"""What `nnc train` shows while it works, a listener on the training loop like any other. On a
terminal: one live bar per epoch (step, loss, ETA) redrawn at most ten times a second, replaced
by the epoch's line when it ends. Anywhere else (a log file, a pipe, CI): only the plain
per-epoch lines, so a log never fills with carriage returns. NO_COLOR turns colour off; quiet
shows nothing but errors."""

from __future__ import annotations

import io
import os
import time

from nnc.runtime.train.callbacks import Callback

BAR_WIDTH = 24
REDRAW_EVERY = 0.1  # seconds


class Progress(Callback):
    def __init__(self, stream, *, verbosity: int = 1, live: bool | None = None):
        """stream: where to write (None: nowhere). verbosity: 0 quiet, 1 normal, 2 verbose.
        live: draw the bar (default: stream is a tty)."""
        if stream is None:
            stream, verbosity = io.StringIO(), 0
        self.stream = stream
        self.verbosity = verbosity
        self.live = stream.isatty() if live is None else live
        self.color = self.live and "NO_COLOR" not in os.environ
        self.started = 0.0
        self.drawn = 0.0
        self.bar = False  # a bar is on screen, its line not yet ended

    # ---- the loop's events -------------------------------------------------------------
    def on_epoch_begin(self, epoch: int, logs: dict) -> None:
        self.epoch_start()

    def on_batch_end(self, step: int, logs: dict) -> None:
        trainer = self.trainer
        self.step(
            trainer.state.epoch + 1, trainer.config.epochs, logs["batch"], logs["batches"], logs["loss"]
        )

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epoch_end(epoch + 1, self.trainer.config.epochs, logs, logs["seconds"])

    # ---- drawing ---------------------------------------------------------------------
    def info(self, message: str) -> None:
        if self.verbosity >= 1:
            self._write(message + "\n")

    def detail(self, message: str) -> None:
        if self.verbosity >= 2:
            self._write(message + "\n")

    def epoch_start(self) -> None:
        self.started = self.drawn = time.perf_counter()

    def step(self, epoch: int, epochs: int, batch: int, batches: int, loss: float) -> None:
        if not self.live or self.verbosity < 1:
            return
        now = time.perf_counter()
        if now - self.drawn < REDRAW_EVERY and batch < batches:
            return
        self.drawn = now
        self.bar = True
        done = batch / batches
        eta = (now - self.started) / done * (1 - done)
        filled = int(BAR_WIDTH * done)
        bar = "=" * filled + (">" if filled < BAR_WIDTH else "") + " " * (BAR_WIDTH - filled - 1)
        if self.color:
            bar = f"\x1b[32m{bar[:filled]}\x1b[0m{bar[filled:]}"
        self._write(
            f"\r\x1b[2Kepoch {epoch}/{epochs} [{bar}] {batch}/{batches} loss {loss:.4f} eta {eta:.1f}s"
        )

    def epoch_end(self, epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        if self.verbosity < 1:
            return
        parts = [f"epoch {epoch}/{epochs}"]
        parts += [f"{k} {_number(v)}" for k, v in logs.items() if k not in ("epoch", "lr", "seconds")]
        if self.verbosity >= 2:
            parts.append(f"lr {logs['lr']:.3g}")
        parts.append(f"{seconds:.2f}s")
        line = "  ".join(parts)
        self.bar = False
        self._write(("\r\x1b[2K" if self.live else "") + line + "\n")

    def close(self) -> None:
        """Ends the line of a bar that an error or Ctrl-C cut short, so that the message that
        follows starts on a line of its own and the bar shows where training stopped."""
        if self.bar:
            self.bar = False
            self._write("\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _number(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
