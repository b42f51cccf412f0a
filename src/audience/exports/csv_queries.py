"""SQL of the persons CSV export: each page's CSV text made by the database, so no Python
runs per person (docs/performance.md, "Export speed, third pass").

SQLite: one statement a page returns each person's finished line (identities and tags by a
correlated lookup each, cells quoted by string functions). PostgreSQL: the page's last id by
the primary key's index, then one ``COPY … TO STDOUT (FORMAT csv)`` up to it; its bytes are
the page. Both quote as ``csv.writer`` does, and the file is the same as before byte for
byte, but for cells holding a lone carriage return, which are now quoted (docs/decisions.md).
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from audience.exports.queries import IN_SEGMENT, pg_page_joins, time_sql

# The CSV export's pages: finished CSV text made by the database, quoted as ``csv.writer``
# quotes (a cell holding a comma, a quote or a line break is quoted, its quotes doubled) —
# and a carriage return quoted too, which ``csv.writer`` with ``\n`` lines leaves bare.
_SQLITE_NEEDS_QUOTES = "'*[,\"' || char(10, 13) || ']*'"


def _sqlite_csv(expr: str) -> str:
    """``expr`` (text or NULL) as a CSV cell: NULL as an empty cell."""
    return (
        f"ifnull(CASE WHEN {expr} GLOB {_SQLITE_NEEDS_QUOTES} "
        f"THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END, '')"
    )


def _sqlite_custom_cell(param: str) -> str:
    """A custom attribute's cell (``param`` a bound JSON path): text as it is, ``null`` and
    absent as an empty cell, anything else as its JSON text (numbers as stored, which is
    what ``str`` of the number read back gives; booleans ``true``/``false``)."""
    value = f"p.custom_attributes -> {param}"
    text = f"p.custom_attributes ->> {param}"
    return (
        f"CASE json_type(p.custom_attributes, {param}) WHEN 'text' THEN {_sqlite_csv(text)} "
        f"WHEN 'null' THEN '' WHEN 'array' THEN {_sqlite_csv(value)} "
        f"WHEN 'object' THEN {_sqlite_csv(value)} ELSE ifnull({value}, '') END"
    )


def _sqlite_csv_sql(
    custom_names: Sequence[str], in_segment: bool, last: bool
) -> tuple[str, dict[str, str]]:
    """Persons after ``:after`` (up to ``:upto`` unless ``last``; members of ``:segment``), as
    CSV lines without their line ends, and the parameters the custom cells take. Identities
    and tags are one correlated lookup each, by the person's id (one index descent each),
    aggregated in the order the API lists them."""
    identities = (
        "(SELECT "
        + _sqlite_csv("group_concat(CASE WHEN kind = 'email' THEN value END, ';')")
        + " || ',' || ifnull(group_concat(CASE WHEN kind = 'phone' THEN value END, ';'), '')"
        " FROM (SELECT kind, value FROM person_identities WHERE person_id = p.id"
        " ORDER BY created_at, value))"
    )
    tags = (
        "(SELECT " + _sqlite_csv("group_concat(tag, ';')") + " FROM (SELECT tag FROM person_tags"
        " WHERE person_id = p.id ORDER BY tag))"
    )
    cells = [
        "p.id",
        _sqlite_csv("p.external_user_id"),
        identities,
        tags,
        _sqlite_csv("p.first_name"),
        _sqlite_csv("p.last_name"),
        _sqlite_csv("p.middle_name"),
        "ifnull(p.gender, '')",
        "ifnull(p.birthday, '')",
        *(_sqlite_custom_cell(f":c{n}") for n in range(len(custom_names))),
        time_sql("p.created_at", True),
        time_sql("p.updated_at", True),
    ]
    join = IN_SEGMENT.replace("?", ":segment") if in_segment else ""
    within = "p.id > :after" + ("" if last else " AND p.id <= :upto")
    line = " || ',' || ".join(cells)
    sql = f"SELECT {line} FROM persons p{join} WHERE {within} ORDER BY p.id"
    return sql, {f"c{n}": f'$."{name}"' for n, name in enumerate(custom_names)}


def _postgresql_csv_sql(custom_names: Sequence[str], in_segment: bool, last: bool) -> str:
    """``COPY`` of persons after an id (up to an id unless ``last``) as CSV: PostgreSQL quotes
    what ``csv.writer`` quotes, and writes NULL as an empty cell (empty text is made NULL, as
    it would otherwise be written ``""``). Named parameters: ``c0``… (the custom names),
    ``after``, ``upto``, ``segment``."""
    text = ["p.external_user_id", "i.emails", "i.phones", "t.tags", "p.first_name", "p.last_name"]
    text += ["p.middle_name", "p.gender", "p.birthday"]
    text += [f"p.custom_attributes ->> %(c{n})s" for n in range(len(custom_names))]
    cells = ["p.id", *(f"nullif({cell}, '')" for cell in text)]
    cells += [time_sql("p.created_at", False), time_sql("p.updated_at", False)]
    joins, within = pg_page_joins(in_segment, last, "{x}", ";")
    return (
        f"COPY (SELECT {', '.join(cells)} FROM persons p {joins} "
        f"WHERE {within} ORDER BY p.id) TO STDOUT (FORMAT csv)"
    )


def person_csv_page(
    conn: Connection,
    after_id: str,
    upto_id: str | None,
    segment_id: str | None,
    custom_names: Sequence[str],
) -> list[bytes]:
    """The persons after ``after_id`` up to ``upto_id`` (None: all that follow) as CSV lines,
    in pieces of bytes to join."""
    driver: Any = conn.connection.driver_connection
    last = upto_id is None
    keys: dict[str, str | None] = {"after": after_id, "upto": upto_id, "segment": segment_id}
    if conn.dialect.name == "sqlite":
        sql, params = _sqlite_csv_sql(custom_names, segment_id is not None, last)
        rows = driver.execute(sql, {**params, **keys}).fetchall()
        if not rows:
            return []
        return ["\n".join([line for (line,) in rows]).encode(), b"\n"]
    sql = _postgresql_csv_sql(custom_names, segment_id is not None, last)
    keys.update({f"c{n}": name for n, name in enumerate(custom_names)})
    # A page's plan costs past the JIT threshold; compiling it would take longer than it saves.
    driver.execute("SET LOCAL jit = off")
    with driver.cursor() as cursor, cursor.copy(sql, keys) as copy:
        return [bytes(data) for data in copy]
