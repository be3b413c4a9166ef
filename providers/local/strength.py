"""How guessable a password is: zxcvbn's estimate (zxcvbn-python), bounded in cost.

zxcvbn finds what a guesser would try first: common passwords, English words, names and
surnames, keyboard walks, repeats (``aaaa``, ``abcabc``), sequences (``abcd``, ``6543``),
dates and years, reversed and l33t spellings of all of them, and the words of the context
given (the service's name, the username). It returns an estimate of the guesses needed and a
score from 0 to 4 (``< 10^3``, ``< 10^6``, ``< 10^8``, ``< 10^10`` and more guesses).

Bounds on its cost, because its matching grows with the square of the length and, through
the l33t matcher, with the product of the look-alike symbols present (``4@8(<{[3|!1%$5+7``
and the digits: a 64-character password from a generator that uses symbols costs seconds):

* only the first :data:`ESTIMATE_CHARS` characters are estimated. A password that long whose
  start is already hard to guess is accepted whatever follows; one whose first 64
  characters are a guessable pattern is refused even if more follows.
* the l33t matcher gets at most :data:`L33T_CHOICES` combinations of substitutions: when the
  password holds more kinds of look-alike symbols, the letters with the most look-alikes
  keep only their first ones. Such a password is symbol-dense (random, in practice); l33t
  words in it are still found through the substitutions kept.

With these bounds an estimate of a 128-character password takes 20-40 ms of CPU for the
shapes the tests try, about 0.1 s for the worst found (the tests check a bound); zxcvbn's own
entry point took 8 s on one of them. The matching is zxcvbn's own, assembled here (rather
than calling ``zxcvbn.zxcvbn``) for those bounds and because ``zxcvbn.zxcvbn`` stores the
context words in a module-level dictionary, which concurrent checks would overwrite; here each
estimate gets its own.

zxcvbn is imported on the first estimate: its word lists take about 12 MiB, which a worker
that never sets a password does without.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

ESTIMATE_CHARS = 64
L33T_CHOICES = 4

_GREEDY, _LAZY, _LAZY_ANCHORED = re.compile(r"(.+)\1+"), re.compile(r"(.+?)\1+"), re.compile(r"^(.+?)\1+$")


@dataclass(frozen=True)
class Estimate:
    score: int  # 0-4, zxcvbn's
    guesses_log10: float
    # The parts zxcvbn's best guess is made of: dicts with "pattern" (dictionary, spatial,
    # repeat, sequence, regex, date, bruteforce), "token" and, for dictionary matches,
    # "dictionary_name" and "matched_word".
    sequence: tuple[dict[str, Any], ...]


def estimate(password: str, context: Iterable[str] = ()) -> Estimate:
    """zxcvbn's estimate for the first :data:`ESTIMATE_CHARS` characters of ``password``, with
    the words of ``context`` (lower-cased) as its user inputs."""
    z = _zxcvbn()
    text = password[:ESTIMATE_CHARS]
    dictionaries = dict(z.matching.RANKED_DICTIONARIES)  # a copy: never the library's own
    dictionaries["user_inputs"] = z.matching.build_ranked_dict([word.lower() for word in context])
    result = z.scoring.most_guessable_match_sequence(text, _omnimatch(text, dictionaries))
    guesses = result["guesses"]
    return Estimate(
        score=z.guesses_to_score(guesses),
        guesses_log10=math.log10(max(guesses, 1)),
        sequence=tuple(result["sequence"]),
    )


def whole_pattern(token: str) -> str | None:
    """ "repeat", "sequence" or "spatial" (a keyboard walk) when that pattern is the whole of
    ``token``, else None: ``123456789`` and ``qwertyuiop`` are on zxcvbn's list of passwords,
    and their shape says more about them."""
    if _LAZY_ANCHORED.fullmatch(token):
        return "repeat"
    z = _zxcvbn()
    for matcher in (z.matching.sequence_match, z.matching.spatial_match):
        for match in matcher(token):
            if match["i"] == 0 and match["j"] == len(token) - 1:
                return str(match["pattern"])
    return None


@functools.cache
def _zxcvbn() -> SimpleNamespace:
    from zxcvbn import matching, scoring
    from zxcvbn.time_estimates import guesses_to_score

    return SimpleNamespace(
        matching=matching,
        scoring=scoring,
        guesses_to_score=guesses_to_score,
        # Matchers taking only the password and the dictionaries (l33t and repeats: below).
        plain_matchers=(
            matching.dictionary_match,
            matching.reverse_dictionary_match,
            matching.spatial_match,
            matching.sequence_match,
            matching.regex_match,
            matching.date_match,
        ),
    )


def _omnimatch(text: str, dictionaries: dict[str, Any]) -> list[dict[str, Any]]:
    """zxcvbn's ``matching.omnimatch``, with the bounded l33t table and repeats whose base is
    matched the same way (zxcvbn's own recursion would use the unbounded table)."""
    z = _zxcvbn()
    found: list[dict[str, Any]] = []
    for matcher in z.plain_matchers:
        found.extend(matcher(text, _ranked_dictionaries=dictionaries))
    found.extend(z.matching.l33t_match(text, dictionaries, _l33t_table=_l33t_table(text)))
    found.extend(_repeat_match(text, dictionaries))
    return sorted(found, key=lambda match: (match["i"], match["j"]))


def _l33t_table(text: str) -> dict[str, list[str]]:
    """The look-alikes present in ``text``, cut to at most :data:`L33T_CHOICES` combinations."""
    matching = _zxcvbn().matching
    table = {
        letter: list(subs)
        for letter, subs in matching.relevant_l33t_subtable(text, matching.L33T_TABLE).items()
    }
    while math.prod(len(subs) for subs in table.values()) > L33T_CHOICES:
        widest = max(table, key=lambda letter: len(table[letter]))
        table[widest].pop()
    return table


def _repeat_match(text: str, dictionaries: dict[str, Any]) -> list[dict[str, Any]]:
    """zxcvbn's ``matching.repeat_match`` (MIT licence, zxcvbn-python 4.5.0), the repeated
    base analysed with :func:`_omnimatch`."""
    found = []
    last_index = 0
    while last_index < len(text):
        greedy = _GREEDY.search(text, pos=last_index)
        lazy = _LAZY.search(text, pos=last_index)
        if not greedy or not lazy:  # both match wherever either does
            break
        if len(greedy.group(0)) > len(lazy.group(0)):
            # greedy beats lazy for "aabaab"; its repeated string may itself repeat
            match = greedy
            anchored = _LAZY_ANCHORED.search(match.group(0))
            assert anchored is not None  # a greedy repeat is also a lazy one
            base_token = anchored.group(1)
        else:
            match = lazy
            base_token = match.group(1)
        i, j = match.span()[0], match.span()[1] - 1
        base = _zxcvbn().scoring.most_guessable_match_sequence(
            base_token, _omnimatch(base_token, dictionaries)
        )
        found.append(
            {
                "pattern": "repeat",
                "i": i,
                "j": j,
                "token": match.group(0),
                "base_token": base_token,
                "base_guesses": base["guesses"],
                "base_matches": base["sequence"],
                "repeat_count": len(match.group(0)) / len(base_token),
            }
        )
        last_index = j + 1
    return found
