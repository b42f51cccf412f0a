"""The docs the code cites stay true: the error list is generated, the citations resolve."""

import re
from pathlib import Path

from audience.errors import ERROR_CLASSES, error_codes_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_docs_errors_md_is_the_generated_list() -> None:
    """Regenerate with ``audience error-codes > docs/errors.md``."""
    assert (ROOT / "docs" / "errors.md").read_text() == error_codes_markdown()


def test_every_error_class_says_when_it_is_answered() -> None:
    for code, cls in ERROR_CLASSES.items():
        assert re.fullmatch(r"[A-Z][A-Z_]+", code)
        assert 400 <= cls.status < 600 and cls.meaning and cls.default_message, code


def test_every_code_raised_in_the_source_has_its_class() -> None:
    """A code raised the old way (``ApiError(409, "SOME_CODE", ...)``) still needs a class, so
    docs/errors.md lists it."""
    pattern = re.compile(r"(?:ApiError|_reject)\(\s*(?:send,\s*)?\d{3},\s*\"([A-Z_]+)\"")
    raised = {
        code
        for path in (ROOT / "src" / "audience").rglob("*.py")
        if "client" not in path.parts
        for code in pattern.findall(path.read_text())
    }
    assert raised, "the pattern finds the remaining old-style raises"
    assert raised <= set(ERROR_CLASSES), raised - set(ERROR_CLASSES)


def _source_texts() -> dict[str, str]:
    return {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for path in (ROOT / "src" / "audience").rglob("*.py")
    }


def test_the_rules_and_docs_the_code_cites_exist() -> None:
    """Comments cite docs/rules.md by rule (``R2 step 0``) and docs by path; no citation
    points outside the repository (the old ``SPEC §6`` ones did)."""
    rules = (ROOT / "docs" / "rules.md").read_text()
    for name, text in _source_texts().items():
        assert "SPEC §" not in text, name
        for rule in set(re.findall(r"\bR(\d{1,2})\b", text)):
            assert re.search(rf"^## R{rule} ", rules, re.MULTILINE), f"{name} cites R{rule}"
        for doc in set(re.findall(r"docs/[a-z_]+\.md", text)):
            assert (ROOT / doc).exists(), f"{name} cites {doc}"
