"""Weight initializers the spec can name. Aliases (xavier_*, kaiming_*) share a signature, so
a parameter table always shows the canonical name."""

from __future__ import annotations

from nnc.runtime.schema import Arg, Float, Signature

_GAIN = Arg("gain", Float(0, min_open=True), 1.0, "multiplies the scale")

INITIALIZERS: dict[str, Signature] = {}


def _add(signature: Signature, *aliases: str) -> None:
    for name in (signature.name, *aliases):
        INITIALIZERS[name] = signature


_add(Signature("glorot_uniform", (), "U(-a, a), a = sqrt(6 / (fan_in + fan_out))"), "xavier_uniform")
_add(Signature("glorot_normal", (), "N(0, 2 / (fan_in + fan_out)), truncated at 2 std"), "xavier_normal")
_add(Signature("he_uniform", (), "U(-a, a), a = sqrt(6 / fan_in)"), "kaiming_uniform")
_add(Signature("he_normal", (), "N(0, 2 / fan_in), truncated at 2 std"), "kaiming_normal")
_add(Signature("lecun_uniform", (), "U(-a, a), a = sqrt(3 / fan_in)"))
_add(Signature("lecun_normal", (), "N(0, 1 / fan_in), truncated at 2 std"), "lecun")
_add(
    Signature(
        "normal", (Arg("std", Float(0, min_open=True), 0.05), Arg("mean", Float(), 0.0)), "N(mean, std^2)"
    )
)
_add(Signature("uniform", (Arg("a", Float(), -0.05), Arg("b", Float(), 0.05)), "U(a, b)"))
_add(Signature("zeros", (), "all 0"))
_add(Signature("ones", (), "all 1"))
_add(Signature("constant", (Arg("value", Float()),), "all `value`"))
_add(Signature("orthogonal", (_GAIN,), "a (semi-)orthogonal matrix times gain"))
