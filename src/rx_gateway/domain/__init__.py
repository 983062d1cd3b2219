"""The pure domain core: standard library only, deterministic, no I/O.

Everything here is a frozen value or a pure function over frozen values, so the same inputs always
produce the same decision (a plan simulation can replay claims through it).
"""
