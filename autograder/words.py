"""A small character-level dataset for lesson 09_rnn: names of countries, languages, scripts and
currencies, each written in one of six languages, to be told apart by their spelling.

The words come from the Unicode CLDR locale data inside Babel (installed with Jupyter), read once
by `python -m autograder.words`, which writes autograder/words.tsv; the lesson and its checks only
ever read that file, so nothing is downloaded or computed at grading time. Deterministic: the same
Babel version writes the same file byte for byte (babel 2.18.0 wrote the shipped one).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import torch

WORDS_FILE = Path(__file__).with_name("words.tsv")
# Label i is LANGUAGES[i]; the CLDR locale each language's words are read from.
LANGUAGES = ("English", "German", "French", "Italian", "Spanish", "Polish")
LOCALES = ("en", "de", "fr", "it", "es", "pl")
# Letters, and single spaces, hyphens or apostrophes between them; 3 to 20 characters.
_WORD = re.compile(r"[^\W\d_]+(?:[ '’-][^\W\d_]+)*")


def build_words() -> list[tuple[str, int]]:
    """(word, label) pairs from Babel's CLDR data: the lower-cased names of territories, languages,
    scripts and currencies in each locale, keeping only words that occur in exactly one of the six
    languages (Japan is English, German and Polish alike), sorted by word."""
    from babel import Locale

    per_language = []
    for code in LOCALES:
        locale, words = Locale(code), set()
        for names in (locale.territories, locale.languages, locale.scripts, locale.currencies):
            for name in names.values():
                word = name.lower().strip()
                if _WORD.fullmatch(word) and 3 <= len(word) <= 20:
                    words.add(word)
        per_language.append(words)
    counts = Counter(w for words in per_language for w in words)
    return sorted((w, label) for label, words in enumerate(per_language) for w in words if counts[w] == 1)


def write_words(path: Path = WORDS_FILE) -> int:
    """Write build_words() as `word<TAB>language` lines; returns how many."""
    pairs = build_words()
    path.write_text("".join(f"{w}\t{LANGUAGES[label]}\n" for w, label in pairs), encoding="utf-8")
    return len(pairs)


def load_words() -> tuple[list[str], torch.Tensor]:
    """The shipped words (4,197, sorted alphabetically: shuffle before splitting) and their labels,
    an int64 tensor of indices into LANGUAGES."""
    words, labels = [], []
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        word, language = line.split("\t")
        words.append(word)
        labels.append(LANGUAGES.index(language))
    return words, torch.tensor(labels, dtype=torch.int64)


def alphabet(words: list[str]) -> str:
    """Every character the words use, sorted: position i is the one-hot index of character i."""
    return "".join(sorted(set("".join(words))))


def encode(words: list[str], chars: str, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot, time-first and zero-padded: xs (T, N, V) with T the longest word's length and V =
    len(chars), xs[t, n] the one-hot of word n's character t (zeros past its end); and lengths (N,)."""
    index = {c: i for i, c in enumerate(chars)}
    xs = torch.zeros(max(map(len, words)), len(words), len(chars), dtype=dtype)
    for n, word in enumerate(words):
        xs[torch.arange(len(word)), n, [index[c] for c in word]] = 1
    return xs, torch.tensor([len(w) for w in words], dtype=torch.int64)


if __name__ == "__main__":
    print(f"{write_words()} words written to {WORDS_FILE}")
