"""Word error rate with text normalisation, for tests and benchmarks of the speech stack.

Whisper writes "25" where a script says "twenty-five" and adds its own punctuation and casing, so both
sides are normalised first: lower case, numbers spelled out as words, punctuation dropped, hyphens split.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["normalize_text", "number_to_words", "word_error_rate", "word_errors"]

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_ENDINGS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                    "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}
# A number with optional thousands separators and decimals, and an optional ordinal suffix.
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:st|nd|rd|th)?", re.IGNORECASE)


def number_to_words(n: int) -> str:
    """Spell out a non-negative integer in English ("1205" -> "one thousand two hundred five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{number_to_words(high)} {name}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_ENDINGS:
        last = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _spell_number(match: re.Match[str]) -> str:
    token = match.group(0).lower().replace(",", "")
    ordinal = token[-2:] in ("st", "nd", "rd", "th")
    if ordinal:
        token = token[:-2]
    whole, _, frac = token.partition(".")
    words = number_to_words(int(whole))
    if ordinal:
        words = _ordinal(words)
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return f" {words} "


def normalize_text(text: str) -> str:
    """Lower-case, spell out numbers, drop punctuation and collapse spaces ("It's 25%!" -> "it's twenty
    five percent"). Apostrophes inside words are kept so "it's" and "its" stay different words."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = _NUMBER.sub(_spell_number, text)
    # Anything that is not a letter, digit or in-word apostrophe separates words (hyphens included).
    text = re.sub(r"[^\w']+|_", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(edits, reference_words)``: word-level Levenshtein distance after normalisation, and the number
    of reference words. Sum both over a corpus for a corpus WER."""
    ref = normalize_text(reference).split()
    hyp = normalize_text(hypothesis).split()
    # Single-row dynamic programme over the hypothesis: O(len(ref) * len(hyp)) time, O(len(hyp)) memory.
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1], len(ref)


def word_error_rate(reference: str | Iterable[str], hypothesis: str | Iterable[str]) -> float:
    """WER of one hypothesis, or the corpus WER of paired sequences (total edits / total reference words).

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    edits = words = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        e, n = word_errors(ref, hyp)
        edits, words = edits + e, words + n
    if words == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / words
