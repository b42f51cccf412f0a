"""R2 merge rules and R3, called as plain functions on rows the factories build (no HTTP)."""

from audience.db import Database
from audience.persons import queries, service
from audience.persons.personalize import depersonalize, personalize
from tests import factories


def test_personalizing_into_a_known_person_merges_the_anonymous_one_survivor_wins(
    db: Database,
) -> None:
    with db.write() as conn:
        shop = factories.app(conn)
        ann = factories.person(conn, "ann", first_name="Ann", tags=["vip"])
        device = factories.installation(conn, shop)
        anonymous = device.person_id
        service.update_person(
            conn,
            service.get_person(conn, anonymous),
            {"first_name": "Anonymous", "last_name": "Smith", "tags": ["new"]},
            factories.audit(),
        )
        identity = service.read_identity({"external_user_id": "ann"})
        result = personalize(conn, shop, device, identity, None, False, False, factories.audit())[0]

        assert result.id == ann.id
        assert (result.first_name, result.last_name) == (
            "Ann",
            "Smith",
        )  # survivor wins, gaps filled
        assert queries.tags_of(conn, ann.id) == ["new", "vip"]
        assert service.get_person(conn, anonymous).id == ann.id  # the old id resolves (R2.4)


def test_depersonalize_moves_the_device_to_a_new_anonymous_person(db: Database) -> None:
    with db.write() as conn:
        shop = factories.app(conn)
        device = factories.installation(conn, shop)
        identity = service.read_identity({"emails": ["Bo@Example.com"]})
        bo, *_ = personalize(conn, shop, device, identity, None, False, True, factories.audit())
        moved = depersonalize(conn, device, shop.application_code, factories.audit())

        assert moved.person_id != bo.id and not moved.is_primary_device
        assert service.get_person(conn, moved.person_id).type == "ANONYMOUS"
        assert service.get_person(conn, bo.id).type == "IDENTIFIED"  # keeps its identity
