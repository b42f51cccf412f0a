"""SQL of the persons NDJSON export: each person's JSON line made by the database, so no Python
runs per person (docs/performance.md, "Export speed, fourth pass").

The line is the one ``json.dumps(doc, separators=(",", ":"))`` wrote when the service built
it: the same keys in the same order, strings quoted by the database's JSON quoting (which
escapes what ``json`` escapes, but leaves non-ASCII characters and DEL as they are), lists
aggregated in the order the API lists them, the custom attributes as their stored JSON made
compact (SQLite's ``json()``; PostgreSQL's ``jsonb`` text without the blanks after ``,`` and
``:`` outside strings). ``json_lines.as_json_dumps`` then makes the page exactly what
``json.dumps`` writes (non-ASCII escaped, any number written differently redone).
"""

from typing import Any

from sqlalchemy import Connection

from audience.exports.queries import IN_SEGMENT, pg_page_joins, time_sql

_FIELDS = (
    ("firstName", "p.first_name"),
    ("lastName", "p.last_name"),
    ("middleName", "p.middle_name"),
    ("gender", "p.gender"),
    ("birthday", "p.birthday"),
)


def _line(sqlite: bool, lists: str, custom: str) -> str:
    """The JSON line of ``p`` (a person row) as SQL, given the text of its lists' members
    (``"emails":[…],"phones":[…],"tags":[…]``) and of its custom attributes' object."""
    quote = "json_quote({})" if sqlite else "coalesce(to_json({})::text, 'null')"
    before = [("id", "p.id"), ("externalUserId", "p.external_user_id")]
    after = [("createdAt", time_sql("p.created_at", sqlite))]
    after.append(("updatedAt", time_sql("p.updated_at", sqlite)))
    pieces = [f"'\"{name}\":' || {quote.format(sql)}" for name, sql in before]
    pieces.append(lists)
    pieces += [f"'\"{name}\":' || {quote.format(sql)}" for name, sql in _FIELDS]
    pieces.append(f"'\"customAttributes\":' || {custom}")
    pieces += [f"'\"{name}\":' || {quote.format(sql)}" for name, sql in after]
    return "'{' || " + " || ',' || ".join(pieces) + " || '}'"


def _sqlite_sql(in_segment: bool, last: bool) -> str:
    """Persons after ``:after`` (up to ``:upto`` unless ``last``; members of ``:segment``), as
    JSON lines. Identities and tags are one correlated lookup each, aggregated from a
    subquery in the API's order (SQLite never flattens an ordered subquery into an
    aggregate)."""
    lists = (
        "(SELECT '\"emails\":' || json_group_array(value) FILTER (WHERE kind = 'email') || "
        "',\"phones\":' || json_group_array(value) FILTER (WHERE kind = 'phone') "
        "FROM (SELECT kind, value FROM person_identities WHERE person_id = p.id"
        " ORDER BY created_at, value)) || "
        "',\"tags\":' || (SELECT json_group_array(tag) FROM (SELECT tag FROM person_tags"
        " WHERE person_id = p.id ORDER BY tag))"
    )
    line = _line(True, lists, "json(p.custom_attributes)")
    decimals = "CASE WHEN instr(p.custom_attributes, '.') THEN p.custom_attributes END"
    join = IN_SEGMENT.replace("?", ":segment") if in_segment else ""
    within = "p.id > :after" + ("" if last else " AND p.id <= :upto")
    return f"SELECT {line}, {decimals} FROM persons p{join} WHERE {within} ORDER BY p.id"


# ``jsonb``'s text with the blank after each ``,`` and ``:`` outside strings dropped (a string
# is matched whole first, so the blanks inside it stay).
_PG_COMPACT = (
    "CASE WHEN p.custom_attributes = '{}'::jsonb THEN '{}' ELSE "
    'regexp_replace(p.custom_attributes::text, \'("(?:[^"\\\\]|\\\\.)*")|([,:]) \', '
    "'\\1\\2', 'g') END"
)


def _postgresql_sql(in_segment: bool, last: bool) -> str:
    """The page as one text: the JSON lines of persons after ``%(after)s`` (up to
    ``%(upto)s`` unless ``last``; members of ``%(segment)s``), each ending with a line feed."""
    joins, within = pg_page_joins(in_segment, last, "to_json({x})::text", ",")
    lists = (
        "'\"emails\":[' || coalesce(i.emails, '') || '],\"phones\":[' || "
        "coalesce(i.phones, '') || '],\"tags\":[' || coalesce(t.tags, '') || ']'"
    )
    line = _line(False, lists, _PG_COMPACT)
    custom = "p.custom_attributes::text"
    decimals = f"string_agg(CASE WHEN strpos({custom}, '.') > 0 THEN {custom} END, chr(10))"
    return (
        f"SELECT string_agg({line} || chr(10), '' ORDER BY p.id), {decimals} "
        f"FROM persons p {joins} WHERE {within}"
    )


def person_ndjson_page(
    conn: Connection, after_id: str, upto_id: str | None, segment_id: str | None
) -> tuple[str, str]:
    """The persons after ``after_id`` up to ``upto_id`` (None: all that follow) as JSON lines,
    each ending with a line feed — not yet as ``json.dumps`` writes them — and their custom
    attributes that hold a ``.`` (for ``json_lines.as_json_dumps``)."""
    driver: Any = conn.connection.driver_connection
    last = upto_id is None
    keys = {"after": after_id, "upto": upto_id, "segment": segment_id}
    if conn.dialect.name == "sqlite":
        rows = driver.execute(_sqlite_sql(segment_id is not None, last), keys).fetchall()
        decimals = "\n".join([custom for _, custom in rows if custom])
        return "".join([line + "\n" for line, _ in rows]), decimals
    sql = _postgresql_sql(segment_id is not None, last)
    # A page's plan costs past the JIT threshold (compiling would take longer than it saves);
    # the page's lines are sorted in memory.
    driver.execute("SET LOCAL jit = off")
    driver.execute("SET LOCAL work_mem = '64MB'")
    row = driver.execute(sql, keys).fetchone()
    return (row[0] or "", row[1] or "") if row else ("", "")
