"""A fast, exact answer for phones already written as ``+<digits>`` (what imports and most
clients send): ``phonenumbers.parse`` + ``is_valid_number`` + E.164 formatting cost ~110 µs a
number, nearly all of it generic parsing (extensions, punctuation, letters, national forms)
that such a number never needs. Here the same library's metadata is applied the way those
functions apply it, with the patterns compiled once per region: a few µs.

Where the library would do more than read a country code and match patterns (a national
prefix or leading zero to strip, non-geographic codes, lengths near its limits), ``quick_e164``
answers None and the caller asks ``phonenumbers`` itself. tests/persons/test_phones.py checks
the answers against ``phonenumbers`` for every region's example numbers and generated ones.
"""

import re
from functools import cache

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    PhoneMetadata,
)

_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}
_DIGITS = re.compile(r"\+([1-9][0-9]{2,19})")
# The library's bounds of a national significant number (_MIN/_MAX_LENGTH_FOR_NSN).
_MIN_NSN, _MAX_NSN = 2, 17
# The kinds of number ``phonenumbers``' type check tries after the general description; a
# number is valid when it fits the general description and any of them (its type is then
# not UNKNOWN).
_KINDS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)

# (possible lengths or empty for any, compiled national number pattern)
_Desc = tuple[frozenset[int], re.Pattern[str]]


def _desc(number_desc: object) -> _Desc | None:
    pattern = getattr(number_desc, "national_number_pattern", None)
    if number_desc is None or not pattern:
        return None
    return frozenset(number_desc.possible_length), re.compile(pattern)  # type: ignore[attr-defined]


class _Region:
    """One region's metadata as the validity check reads it."""

    def __init__(self, metadata: object) -> None:
        self.country_code: int = metadata.country_code  # type: ignore[attr-defined]
        leading = metadata.leading_digits  # type: ignore[attr-defined]
        self.leading_digits = re.compile(leading) if leading is not None else None
        self.general = _desc(metadata.general_desc)  # type: ignore[attr-defined]
        self.kinds = [d for k in _KINDS if (d := _desc(getattr(metadata, k))) is not None]
        prefix = metadata.national_prefix_for_parsing  # type: ignore[attr-defined]
        self.national_prefix = re.compile(prefix) if prefix else None
        self._by_length: dict[int, re.Pattern[str] | None] = {}

    def typed(self, nsn: str) -> bool:
        """``_number_type_helper(nsn, metadata) != UNKNOWN``: the general description and
        any kind fit (the kind that fits first only names the type)."""
        size = len(nsn)
        if size not in self._by_length:
            self._by_length[size] = self._pattern_for(size)
        pattern = self._by_length[size]
        return pattern is not None and pattern.fullmatch(nsn) is not None

    def _pattern_for(self, size: int) -> re.Pattern[str] | None:
        """One pattern for numbers of ``size`` digits: the general description's (as a
        lookahead) and the kinds' whose lengths allow it, as alternatives."""
        if self.general is None or (self.general[0] and size not in self.general[0]):
            return None
        kinds = [p.pattern for lengths, p in self.kinds if not lengths or size in lengths]
        if not kinds:
            return None
        either = "|".join(f"(?:{pattern})" for pattern in kinds)
        return re.compile(f"(?=(?:{self.general[1].pattern})\\Z)(?:{either})")


@cache
def _region(region_code: str) -> _Region | None:
    metadata = PhoneMetadata.metadata_for_region(region_code, None)
    return _Region(metadata) if metadata is not None else None


def _country_code(digits: str) -> tuple[int, str] | None:
    """``_extract_country_code``: the first 1-3 digits that are a known calling code."""
    for size in (1, 2, 3):
        code = _CODES.get(digits[:size])
        if code is not None:
            return code, digits[size:]
    return None


def _valid(code: int, regions: tuple[str, ...], nsn: str) -> bool:
    """``is_valid_number``: the region the number belongs to, then its type check there."""
    chosen: _Region | None = None
    if len(regions) == 1:
        chosen = _region(regions[0])
    else:  # ``_region_code_for_number_from_list``
        for region_code in regions:
            region = _region(region_code)
            if region is None:
                continue
            if region.leading_digits is not None:
                if region.leading_digits.match(nsn):
                    chosen = region
                    break
            elif region.typed(nsn):
                chosen = region
                break
    if chosen is None or chosen.country_code != code:
        return False
    return chosen.typed(nsn)


def quick_e164(text: str) -> str | None:
    """For ``text`` of the form ``+<digits>``: its E.164 form if ``phonenumbers`` finds it
    valid, "" if it finds it invalid; None when only ``phonenumbers`` itself can tell."""
    match = _DIGITS.fullmatch(text)
    if match is None:
        return None
    found = _country_code(match.group(1))
    if found is None:
        return None
    code, nsn = found
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    if REGION_CODE_FOR_NON_GEO_ENTITY in regions:
        return None
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN or nsn[0] == "0":
        return None  # refused, or a leading zero kept: the library's own rules
    main = _region(regions[0])
    if main is None or (main.national_prefix is not None and main.national_prefix.match(nsn)):
        return None  # a national prefix it may strip
    return f"+{code}{nsn}" if _valid(code, regions, nsn) else ""
