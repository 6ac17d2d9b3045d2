"""NYSIIS, a phonetic code for names.

Two spellings that sound alike (``SMYTH`` and ``SMITH``, ``CATHERINE`` and ``KATHRYN``) should meet
in one lookup key and count as a weak agreement when compared. NYSIIS (New York State
Identification and Intelligence System, 1970) was designed for exactly that on name files and is
more selective than Soundex. This is the original algorithm, pure Python, applied once per distinct
name (the caller caches), so it needs no dependency.
"""

from __future__ import annotations

from functools import lru_cache

_VOWELS = frozenset("AEIOU")
_PREFIXES = (("MAC", "MCC"), ("KN", "NN"), ("K", "C"), ("PH", "FF"), ("PF", "FF"), ("SCH", "SSS"))
_SUFFIXES = (("EE", "Y"), ("IE", "Y"), ("DT", "D"), ("RT", "D"), ("RD", "D"), ("NT", "D"), ("ND", "D"))


@lru_cache(maxsize=131072)
def nysiis(name: str, max_length: int = 8) -> str:
    """The NYSIIS code of ``name`` (letters only are used; '' when there are none)."""
    word = "".join(ch for ch in name.upper() if "A" <= ch <= "Z")
    if not word:
        return ""
    for old, new in _PREFIXES:
        if word.startswith(old):
            word = new + word[len(old):]
            break
    for old, new in _SUFFIXES:
        if word.endswith(old):
            word = word[: -len(old)] + new
            break
    chars = list(word)
    key = [chars[0]]
    i = 1
    while i < len(chars):
        ch = chars[i]
        prev = chars[i - 1]
        nxt = chars[i + 1] if i + 1 < len(chars) else ""
        if ch == "E" and nxt == "V":
            chars[i], chars[i + 1] = "A", "F"
        elif ch in _VOWELS or (ch == "Y" and i + 1 < len(chars)):
            # Y inside a name is a vowel (SMYTH/SMITH); final Y is kept (MARY, not MAR).
            chars[i] = "A"
        elif ch == "Q":
            chars[i] = "G"
        elif ch == "Z":
            chars[i] = "S"
        elif ch == "M":
            chars[i] = "N"
        elif ch == "K":
            chars[i] = "N" if nxt == "N" else "C"
        elif ch == "S" and nxt == "C" and i + 2 < len(chars) and chars[i + 2] == "H":
            chars[i : i + 3] = ["S", "S", "S"]
        elif ch == "P" and nxt == "H":
            chars[i : i + 2] = ["F", "F"]
        elif ch == "H" and (prev not in _VOWELS or (nxt and nxt not in _VOWELS)):
            chars[i] = prev
        elif ch == "W" and prev in _VOWELS:
            chars[i] = prev
        if chars[i] != key[-1]:
            key.append(chars[i])
        i += 1
    if len(key) > 1 and key[-1] == "S":
        key.pop()
    if len(key) > 1 and key[-2:] == ["A", "Y"]:
        key[-2:] = ["Y"]
    if len(key) > 1 and key[-1] == "A":
        key.pop()
    return "".join(key)[:max_length]
