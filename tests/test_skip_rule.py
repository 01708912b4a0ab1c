"""The default selection skips exactly the names ``fnmatchcase`` matches against ``DEFAULT_SKIP``.

The patterns are matched by shape (names, prefixes, suffixes, parts; a
regular expression only for the rest), not as one compiled expression:
these properties hold that to what the globs mean.
"""

from __future__ import annotations

import fnmatch

from hypothesis import given, settings
from hypothesis import strategies as st

from proxycache import DEFAULT_SKIP, CachedProxy
from proxycache._skiplist import _make_skip_rule

#: Pieces of the patterns, so that drawn names hit them (and miss them by a letter).
_PIECES = sorted({part for pattern in DEFAULT_SKIP for part in pattern.replace("[A-Z]", "*").split("*") if part})
_LETTERS = "abeghkoprstuxyzAQ_*?["

names = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(alphabet=_LETTERS, max_size=3)), max_size=4).map("".join)


def _globbed(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@settings(max_examples=400, deadline=None)
@given(name=names)
def test_a_proxy_caches_a_public_method_unless_a_default_pattern_matches_its_name(name: str) -> None:
    if not name.isidentifier() or name.startswith("_"):
        name = f"m{name.replace('*', 'x').replace('?', 'q').replace('[', 'b')}"

    class Client:
        calls = 0

    def method(self: Client, x: int) -> list[int]:
        Client.calls += 1
        return [x]

    setattr(Client, name, method)
    proxy = CachedProxy(Client())
    read = getattr(proxy, name)
    assert read(1) == read(1) == [1]
    assert Client.calls == (2 if _globbed(name, DEFAULT_SKIP) else 1)


#: Patterns of every shape the rule sorts, and some it must leave to the regular expression.
_SHAPES = ("", "*", "**", "set", "post*", "*store", "*push*", "**x", "x**", "*a*b*", "a*b", "x?y", "set[A-Z]*",
           "[!a]*", "*[xy]")


@settings(max_examples=600, deadline=None)
@given(patterns=st.lists(st.sampled_from(_SHAPES + DEFAULT_SKIP), max_size=5).map(tuple), name=names)
def test_the_rule_matches_what_fnmatchcase_does(patterns: tuple[str, ...], name: str) -> None:
    assert _make_skip_rule(patterns)(name) is _globbed(name, patterns)
