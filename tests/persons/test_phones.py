"""``persons.phones.quick_e164`` gives exactly ``phonenumbers``' answer (valid or not, and the
E.164 form) wherever it answers at all; the API's ``normalize_phone`` relies on it."""

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audience.errors import ApiError
from audience.persons.identities import normalize_phone
from audience.persons.phones import quick_e164

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def library(text: str) -> str:
    """What ``normalize_phone`` answered before the fast path: E.164, or "" when refused."""
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(parsed):
        return ""
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _examples() -> list[str]:
    numbers = []
    regions = [*phonenumbers.SUPPORTED_REGIONS]
    for region in regions:
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, 0))
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, 0))
    return sorted(set(numbers))


def _variants(number: str) -> list[str]:
    """The number, each last digit, one digit shorter and longer, a zero after the code."""
    found = [number, number[:-1], number + "5", number + "55"]
    found += [number[:-1] + digit for digit in "0123456789"]
    found += [number[:3] + "0" + number[3:], number[:2] + "0" + number[2:]]
    return found


def test_every_regions_examples_and_their_neighbours_answer_as_the_library() -> None:
    answered = valid = 0
    for example in _examples():
        for text in _variants(example):
            quick = quick_e164(text)
            if quick is None:
                continue
            answered += 1
            valid += bool(quick)
            assert quick == library(text), text
    # the fast path answers for most numbers, valid and invalid ones alike
    assert answered > 14_000 and valid > 10_000 and answered - valid > 4_000


@settings(max_examples=3000, deadline=None)
@given(
    code=st.sampled_from(CODES),
    rest=st.text(alphabet="0123456789", min_size=0, max_size=18),
)
def test_generated_numbers_answer_as_the_library(code: int, rest: str) -> None:
    text = f"+{code}{rest}"
    quick = quick_e164(text)
    if quick is not None:
        assert quick == library(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="+0123456789 -()x#;", max_size=24))
def test_any_text_is_either_answered_exactly_or_left_to_the_library(text: str) -> None:
    quick = quick_e164(text)
    if quick is not None:
        assert quick == library(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+385911234567", "+385911234567"),
        ("385911234567", "+385911234567"),
        ("00385911234567", "+385911234567"),
        ("+44 20 7946 0958", "+442079460958"),  # not +digits: the library parses it
        ("+4402079460958", "+442079460958"),  # national prefix: the library strips it
        ("+14155552671", "+14155552671"),
        ("+80012345678", "+80012345678"),  # non-geographic
    ],
)
def test_normalize_phone_keeps_its_answers(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["+385", "+3850000", "+99912345678", "+1555", "+3859112345678901"])
def test_normalize_phone_still_refuses(raw: str) -> None:
    with pytest.raises(ApiError) as caught:
        normalize_phone(raw)
    assert caught.value.code == "PHONE_INVALID"
