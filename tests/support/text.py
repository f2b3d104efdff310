"""Comparing transcripts: character edits, as the character error rate (CER) counts them."""

from __future__ import annotations


def char_edits(reference: str, hypothesis: str) -> tuple[int, int]:
    """Character edits (Levenshtein) from `reference` to `hypothesis` and the reference's length, spaces ignored."""
    ref, hyp = reference.replace(" ", ""), hypothesis.replace(" ", "")
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1], len(ref)
