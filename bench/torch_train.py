"""The PyTorch scripts that `nnc train` is timed against end to end: what a PyTorch user writes
for the same job as specs/mlp_digits.nn and specs/penguins.nn, from process start to weights
on disk — read the CSV, preprocess with the training split's statistics, hold out the same
fraction for validation, train with the same network, optimizer, batch size and epochs, stop
early on the validation loss with the same patience, restore the best weights, save them.

Usage: python bench/torch_train.py digits|penguins TRAIN_CSV OUT_DIR [EPOCHS]
Prints one line: epochs run. EPOCHS runs exactly that many (the best epoch still restored), so
that the benchmark can give PyTorch the epochs nnc ran: where early stopping falls depends on
each runtime's random numbers. Reads with numpy and the csv module (cheaper to import than
pandas, so the comparison favours PyTorch)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn


def digits(path: Path):
    """specs/mlp_digits.nn: 64 standardized pixels, dropout 0.2, 256-128 relu, 10 classes."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
    header = path.open().readline().strip().split(",")
    label = header.index("label")
    x = np.delete(table, label, axis=1)
    y = table[:, label].astype(np.int64)
    net = nn.Sequential(
        nn.Dropout(0.2), nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    return x, y, net, dict(lr=1e-3, epochs=60, batch=64, validation=0.1, seed=7, standardize=slice(None))


def penguins(path: Path):
    """specs/penguins.nn: island and sex one-hot (a missing sex is a category of its own), the
    five measures with missing values imputed by the median plus a missing flag each, then
    standardized; dense 16 relu, 3 classes."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    measures = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
    raw = np.array([[float(r[m]) if r[m] not in ("", "NA") else np.nan for m in measures] for r in rows])
    missing = np.isnan(raw)
    filled = np.where(missing, np.nanmedian(raw, axis=0), raw)

    def one_hot(column):
        values = sorted({r[column] for r in rows})
        return np.array([[r[column] == v for v in values] for r in rows], np.float32)

    x = np.concatenate([one_hot("island"), one_hot("sex"), filled, missing], axis=1).astype(np.float32)
    species = sorted({r["species"] for r in rows})
    y = np.array([species.index(r["species"]) for r in rows], np.int64)
    first = x.shape[1] - 2 * len(measures)  # the filled measures follow the one-hot columns
    net = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, 3))
    settings = dict(lr=0.01, epochs=60, batch=32, validation=0.2, seed=0, standardize=slice(first, first + 5))
    return x, y, net, settings


def train(x, y, net, lr, epochs, batch, validation, seed, standardize, out: Path, exact: int | None) -> int:
    torch.manual_seed(seed)
    order = np.random.default_rng(seed).permutation(len(x))
    held = int(round(len(x) * validation))
    val, fit = order[:held], order[held:]
    mean, std = x[fit][:, standardize].mean(axis=0), x[fit][:, standardize].std(axis=0)
    x = x.copy()
    x[:, standardize] = (x[:, standardize] - mean) / np.where(std > 0, std, 1)
    x_fit, y_fit = torch.from_numpy(x[fit]), torch.from_numpy(y[fit])
    x_val, y_val = torch.from_numpy(x[val]), torch.from_numpy(y[val])
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, waited, history = float("inf"), None, 0, []
    for epoch in range(1, (exact or epochs) + 1):
        net.train()
        correct, total = 0, 0.0
        for batch_rows in torch.randperm(len(x_fit)).split(batch):
            optimizer.zero_grad()
            logits = net(x_fit[batch_rows])
            loss = loss_fn(logits, y_fit[batch_rows])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch_rows)
            correct += int((logits.argmax(1) == y_fit[batch_rows]).sum())
        net.eval()
        with torch.no_grad():
            logits = net(x_val)
            val_loss = float(loss_fn(logits, y_val))
            val_accuracy = float((logits.argmax(1) == y_val).float().mean())
        history.append((epoch, total / len(x_fit), correct / len(x_fit), val_loss, val_accuracy))
        if val_loss < best:
            best, waited = val_loss, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited >= 10 and exact is None:
                break
    net.load_state_dict(best_state)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": net.state_dict(), "mean": mean, "std": std}, out / "weights.pt")
    lines = ["epoch,loss,accuracy,val_loss,val_accuracy", *(",".join(map(repr, row)) for row in history)]
    (out / "metrics.csv").write_text("\n".join(lines) + "\n")  # as nnc's run directory has
    return len(history)


def main() -> None:
    name, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    exact = int(sys.argv[4]) if len(sys.argv) > 4 else None
    x, y, net, settings = {"digits": digits, "penguins": penguins}[name](data)
    print(f"epochs {train(x, y, net, **settings, out=out, exact=exact)}")


if __name__ == "__main__":
    main()
