"""Names: one spelling per name, titles and placeholders removed, nickname groups, phonetic code.

Partners write ``Mrs. Zoë O'Brien-Smith``, ``OBRIEN SMITH, ZOE`` or ``zoe obrien``. Linkage
compares the folded forms: titles and suffixes gone (they are not the person), apostrophes
dropped, hyphens splitting double-barrelled names into tokens, and words that stand for "no
name" (``UNKNOWN``, ``BABY``, ``BABY GIRL``) treated as missing, so that two blanks never look
like agreement, and a newborn's record made before it was named joins the named child's.

A title is dropped only where a title stands. ``KING``, ``QUEEN``, ``EARL``, ``PRINCE``, ``MAJOR``,
``MARQUIS`` and ``DELLA`` are given names too: alone in the given-name field, or after the first
given name, they are the person's name, and dropping them left records with no given name, which
no household guard can tell apart from the other members (Queen R Tobin and her twin Marvin).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from mast.normalise.phonetic import nysiis
from mast.normalise.text import fold

#: Words before or after a name that say nothing about who the person is.
TITLES = frozenset(
    "MR MRS MISS MS MX MSTR MASTER DR DOCTOR PROF PROFESSOR REV REVD REVEREND FR FATHER SR SISTER "
    "SIR DAME LORD LADY CAPT CAPTAIN COL MAJOR SGT CLLR HON RT BARON BARONESS BARONET BT EARL COUNT "
    "COUNTESS DUKE DUCHESS VISCOUNT VISCOUNTESS MARQUESS MARQUIS KING QUEEN PRINCE PRINCESS "
    "GENERAL ADMIRAL COLONEL LIEUTENANT LT LIEUT COMMANDER BRIGADIER SERGEANT CORPORAL "
    "BISHOP ARCHBISHOP CANON CARDINAL PASTOR RABBI IMAM DEACON "
    # abbreviated ranks, further styles, and the words around them ("The Hon.", "Very Rev.", "Ven.")
    "MAJ GEN BRIG CPL PTE PVT ADM CMDR MARCHIONESS HRH VEN VERY THE".split()
)
#: Titles that are also given names (Queen R Tobin, Earl Jones, Major Smith): before another name they
#: may be either, so ingest keeps them; only linkage, which sees the whole name, may read them as titles,
#: and only in the title position, before another given name ("Major Tom"): alone, or after the first
#: given name, they are the person's name.
TITLE_GIVEN_NAMES = frozenset(
    "KING QUEEN PRINCE PRINCESS EARL MAJOR MARQUIS MARQUESS DUKE DUCHESS COUNT COUNTESS BARON "
    "DEACON CANON GENERAL ADMIRAL BISHOP".split()
)
#: The titles ingest removes from the front of a forename or whole name ("Mrs Sarah" -> "Sarah"):
#: every title that is never also a given name. The one list: ``mast.feeds.columns`` reads it.
LEADING_TITLES = TITLES - TITLE_GIVEN_NAMES
#: Of those, the ones people are named (Queen, Earl, Prince, King, Major, Marquis, Duke, Baron, Deacon):
#: linkage keeps them where a given name stands. The others (General, Bishop, Count ...) are titles
#: to linkage wherever they stand: alone in a given-name field they are a title with the name left out.
NAMED_TITLES = frozenset("KING QUEEN PRINCE PRINCESS EARL MAJOR MARQUIS DUKE BARON DEACON".split())
#: Titles that are also English surnames (KING, LORD, BISHOP): in the family-name field such a word is
#: the surname unless another word there is ("Lord Byron" gives BYRON, "King" stays KING).
SURNAME_TITLES = frozenset("KING LORD EARL DUKE MAJOR PRINCE BARON MASTER BISHOP CANON DEACON GENERAL".split())
#: Particles that begin a family name ("de Salisbury"): never a given name on their own.
PARTICLES = frozenset("DE DU DA DI DEL DELLA LE LA VAN VON DER DEN OF".split())
#: Particles that are also given names: never dropped where a given name stands.
GIVEN_NAME_PARTICLES = frozenset({"DELLA"})
SUFFIXES = frozenset("JR JNR JUNIOR SR SNR SENIOR II III IV ESQ".split())
#: Values partners use for "we do not know the name" (A&E: "Baby Girl", "Boy" until a newborn is named).
PLACEHOLDERS = frozenset(
    "UNKNOWN NOTKNOWN NK NONE NULL NA TBC TBA XX XXX ZZZ BABY INFANT UNNAMED ANON ANONYMOUS "
    "NOTGIVEN NOTSTATED REFUSED WITHHELD BOY GIRL BABYBOY BABYGIRL NEWBORN".split()
)


@dataclass(frozen=True, slots=True)
class NameParts:
    """A person's name after normalisation. Empty strings mean missing."""

    given: str
    middle: str
    family: str

    @property
    def middle_initial(self) -> str:
        return self.middle[:1]


def _tokens(raw: str | None) -> list[str]:
    words = fold(raw).split()
    if "".join(words) in PLACEHOLDERS:
        return []
    return [w for w in words if w not in PLACEHOLDERS and _is_name_word(w)]


def _is_name_word(word: str) -> bool:
    """False for a number or an ordinal ("3", "2ND", "1ST"): never part of a name.

    A word of letters with one digit struck among them (``MA4GARET``, ``S5ENHOUSE``: a key next
    to the right one, or a misread letter) is the name with a typing slip, and is kept: dropped,
    the record would lose the name altogether; kept, it compares as one slip from the real one.
    """
    digits = sum(ch.isdigit() for ch in word)
    return digits == 0 or (digits == 1 and len(word) - digits >= 3)


@lru_cache(maxsize=131072)
def clean_given(raw: str | None) -> tuple[str, str]:
    """(first given name, any further given names) from a given-name field.

    Titles that are never names (``MR``, ``DR``) are dropped wherever they stand; one that is also a
    given name (``QUEEN``, ``MAJOR``) only in the title position, ahead of another given name of more
    than an initial (``Major Tom`` is TOM, ``Queen`` and ``Queen R`` are QUEEN). Initials with full
    stops become single letters. ``Mary-Jane`` gives ``("MARY", "JANE")``: the second part reads as
    a middle name, which is what the middle-name comparison expects.
    """
    words = [w for w in _tokens(raw) if w not in SUFFIXES and (w not in TITLES or w in NAMED_TITLES)]
    while words and words[0] in NAMED_TITLES and len(words) > 1 and len(words[1]) > 1:
        words = words[1:]  # a title in the title position (Major Tom, Prince Harry, Mr King Charles)
    if words and words[0] in PARTICLES and words[0] not in GIVEN_NAME_PARTICLES:
        return "", ""  # "de" of "de Salisbury" typed as a first name
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


@lru_cache(maxsize=131072)
def clean_middle(raw: str | None) -> str:
    """Middle names, folded, titles and particles dropped, space separated. A middle name that is also a
    title or particle (``EARL``, ``DELLA``) stands where a name stands and is kept."""
    return " ".join(w for w in _tokens(raw) if w not in SUFFIXES
                    and (w not in TITLES or w in NAMED_TITLES)
                    and (w not in PARTICLES or w in GIVEN_NAME_PARTICLES))


@lru_cache(maxsize=131072)
def clean_family(raw: str | None) -> str:
    """A family name, folded; ``O'Brien-Smith`` is ``OBRIEN SMITH`` (tokens kept apart)."""
    words = [w for w in _tokens(raw) if w not in SUFFIXES]
    # A title typed into the family field ("Smith Mrs") is not part of the name; a lone title is
    # not a name at all; nor is a lone initial ("W.").
    kept = [w for w in words if w not in TITLES]
    if not kept:
        kept = [w for w in words if w in SURNAME_TITLES][-1:]
    words = kept
    if len(words) == 1 and len(words[0]) == 1:
        return ""
    return " ".join(words)


def name_parts(given: str | None, middle: str | None, family: str | None) -> NameParts:
    """Normalise a canonical record's three name fields together."""
    first, extra = clean_given(given)
    mid = " ".join(p for p in (extra, clean_middle(middle)) if p)
    return NameParts(first, mid, clean_family(family))


@lru_cache(maxsize=131072)
def name_key(name: str) -> str:
    """The form names are compared in: tokens run together (``MC DONALD`` = ``MCDONALD``)."""
    return name.replace(" ", "")


@lru_cache(maxsize=131072)
def phonetic(name: str) -> str:
    """NYSIIS of the name run together; '' for no name."""
    return nysiis(name_key(name)) if name else ""


def _load_nicknames() -> dict[str, tuple[int, ...]]:
    groups: dict[str, list[int]] = {}
    text = resources.files("mast.normalise").joinpath("nicknames.txt").read_text("utf-8")
    group_id = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        head, rest = line.split(":", 1)
        members = {fold(head)} | {fold(n) for n in rest.split(",") if n.strip()}
        group_id += 1
        for member in members:
            if member:
                groups.setdefault(member, []).append(group_id)
    return {name: tuple(ids) for name, ids in groups.items()}


_NICKNAMES: dict[str, tuple[int, ...]] | None = None


def nickname_groups(name: str) -> tuple[int, ...]:
    """Ids of the nickname groups ``name`` belongs to (empty when it is in none).

    Two given names are nickname-equivalent when their groups intersect: ``BILL`` and ``WILLIAM``
    share a group, ``ALEX`` sits in both ``ALEXANDER``'s and ``ALEXANDRA``'s.
    """
    global _NICKNAMES
    if _NICKNAMES is None:
        _NICKNAMES = _load_nicknames()
    return _NICKNAMES.get(name, ())


def are_nicknames(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are different names in one nickname group."""
    return a != b and bool(set(nickname_groups(a)) & set(nickname_groups(b)))


def nickname_names() -> list[str]:
    """Every name in the nickname table."""
    nickname_groups("")
    assert _NICKNAMES is not None
    return sorted(_NICKNAMES)


def near_nickname_groups(name: str) -> tuple[int, ...]:
    """Nickname groups of the table names one typing slip from ``name`` (a name not in the table).

    ``RHOMAS`` is no name, but one slip from ``THOMAS``: compared with ``TOM`` it should read as a
    mistyped nickname, not as a different given name (which, with the same date of birth, would be
    taken for a twin). Names of fewer than four letters are too short for a slip to be told from a
    different name.
    """
    if len(name) < 4 or nickname_groups(name):
        return ()
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    groups: list[int] = []
    for match, _, _ in process.extract(name, _table_names(), scorer=Levenshtein.distance, score_cutoff=1,
                                       limit=8):
        for g in nickname_groups(match):
            if g not in groups:
                groups.append(g)
    return tuple(groups)


_TABLE_NAMES: list[str] | None = None


def _table_names() -> list[str]:
    global _TABLE_NAMES
    if _TABLE_NAMES is None:
        _TABLE_NAMES = [n for n in nickname_names() if len(n) >= 3]
    return _TABLE_NAMES
