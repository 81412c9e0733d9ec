"""Hypothesis strategies and settings shared by specs, and the seed of a spec's own randomness."""

from __future__ import annotations

import random
import zlib

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from conformance.outcomes import HarnessBroken, Sentence
from conformance.settings import SETTINGS, SettingError

#: The environment variable that replays a seeded perturbation (the seed a failure names).
SEED_ENV = SETTINGS["seed"].env

#: Health checks that do not fit specs which start real processes for every example.
SPEC_HEALTH_CHECKS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]


def spec_settings(max_examples: int, **kwargs) -> settings:
    """Settings for a spec: on top of the active profile (the grading one when grading)."""
    return settings(max_examples=max_examples, deadline=None, suppress_health_check=SPEC_HEALTH_CHECKS, **kwargs)


def spec_seed(spec_id: str) -> int:
    """The seed of a spec's own randomness (not Hypothesis's): $IPC_SEED when it is set, else a
    number derived from SPEC_ID, so that every grading run draws the same. A bad IPC_SEED is the
    grader's setup, not the submission's: HarnessBroken, saying where it came from."""
    try:
        override = SETTINGS["seed"].from_env()
    except SettingError as exc:
        raise HarnessBroken(str(exc)) from None
    return zlib.crc32(spec_id.encode()) if override is None else override


def sized_bytes(size: int, seed: int) -> bytes:
    """SIZE reproducible pseudo-random bytes: large payloads without drawing every byte."""
    return random.Random(seed).randbytes(size)


def payloads(large_sizes: list[int], small_max: int = 2048) -> st.SearchStrategy[bytes]:
    """Small payloads drawn byte by byte, and large ones of the sizes given (boundaries and MiB)."""
    large = st.builds(sized_bytes, st.sampled_from(large_sizes), st.integers(0, 2**32 - 1))
    return st.one_of(st.binary(max_size=small_max), large)


def plural(n: int, word: str, words: str = "") -> str:
    """``1 message``, ``2 messages`` (WORDS for a plural that is not WORD + s)."""
    return f"{n} {word if n == 1 else words or word + 's'}"


def describe_bytes(data: bytes) -> str:
    """A short description of a payload for a message: its length and a preview."""
    preview = data[:24]
    more = "..." if len(data) > 24 else ""
    shown = repr(preview) + more
    return Sentence("%(n)s bytes (%(preview)s)", n=len(data), preview=shown)


def first_difference(expected: bytes, got: bytes) -> str:
    """Where GOT first differs from EXPECTED, in words."""
    n = min(len(expected), len(got))
    for i in range(0, n, 4096):
        end = min(i + 4096, n)  # compare only the common prefix: a shorter GOT is handled below
        if expected[i:end] != got[i:end]:
            j = next(k for k in range(i, min(i + 4096, n)) if expected[k] != got[k])
            return Sentence("first difference at byte %(at)s: expected %(expected)s, got %(got)s", at=j, expected=repr(expected[j:j + 8]), got=repr(got[j:j + 8]))
    if len(got) < len(expected):
        missing = expected[len(got):]
        if b"\n" not in missing and not expected.endswith(b"\n") and (not got or got.endswith(b"\n")):
            return Sentence("the output stops after %(got)s of %(expected)s bytes: the last line, "
                            "%(missing)s bytes without a newline at the end of the input, is missing", got=len(got), expected=len(expected), missing=len(missing))
        return Sentence("the output stops after %(got)s of %(expected)s bytes", got=len(got), expected=len(expected))
    if len(got) > len(expected):
        return Sentence("%(extra)s extra bytes after the expected %(expected)s: %(bytes)s", extra=len(got) - len(expected), expected=len(expected), bytes=repr(got[n:n + 16]))
    return Sentence("identical")
