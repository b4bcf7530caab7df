"""One helper for error messages that suggest the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(value: object, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' when ``value`` is close to one of ``choices``, else ''."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
