"""Push benchmark (issue 16): one message to a segment of N installations (default 100,000),
half FCM and half APNs, 1 % of the tokens dead, against local fake providers on 127.0.0.1
(the token endpoint and FCM over HTTP/1.1, APNs over HTTP/2 with TLS — tests/push/fakes.py).

Measures, end to end through a real ``audience serve`` with its embedded worker: sends per
second from the ``POST /v1/messages`` to the message's ``done``, the server's peak RSS, and
checks every live token was sent exactly once and every dead one uninstalled.
Last line: one JSON object. ``python benchmarks/push.py [--database-url URL]
[--installations N]``.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.push.fakes
from _common import backend_of, fresh_database, server
from tests.push.fakes import FakeProviders, Keys, Servers, make_certificates, pem

from audience.clock import utcnow
from audience.db import Database, make_engine
from audience.migrate import upgrade
from audience.tables import applications, installations, persons, segment_members, segments

ADMIN_KEY = "ak_benchmark-admin"
APP_CODE = "p" * 64
SEGMENT = "everyone"
SECRET_KEY = "benchmark-secret-key-of-32-characters-or-more"


def load(db: Database, n: int, dead_every: int) -> list[str]:
    """N anonymous persons with one installation each, all members of one segment; answers
    the dead tokens."""
    now = utcnow()
    dead: list[str] = []
    with db.write() as conn:
        conn.execute(
            insert(applications).values(
                id="app",
                application_code=APP_CODE,
                name="Bench",
                require_user_jwt=False,
                jwt_secret="secret",
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            insert(segments).values(
                id=SEGMENT,
                name="everyone",
                description=None,
                rule={"not": {"tag": "no-one-has-this-tag"}},
                created_at=now,
                updated_at=now,
            )
        )
        for start in range(0, n, 20_000):
            ids = range(start, min(start + 20_000, n))
            conn.execute(
                insert(persons),
                [
                    {
                        "id": f"p{i:07d}",
                        "type": "ANONYMOUS",
                        "custom_attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            rows = []
            for i in ids:
                ios = i % 2 == 1
                token = f"{'dead' if i % dead_every == 0 else 'tok'}-{i:07d}"
                if token.startswith("dead"):
                    dead.append(token)
                rows.append(
                    {
                        "push_registration_id": f"i{i:07d}",
                        "application_id": "app",
                        "person_id": f"p{i:07d}",
                        "platform": "iOS" if ios else "Android",
                        "push_service_type": "APNS" if ios else "Firebase",
                        "push_service_token": token,
                        "push_registration_enabled": True,
                        "registrations_enabled": True,
                        "is_primary_device": False,
                        "custom_attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            conn.execute(insert(installations), rows)
            conn.execute(
                insert(segment_members),
                [{"segment_id": SEGMENT, "person_id": f"p{i:07d}", "entered_at": now} for i in ids],
            )
    return dead


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--installations", type=int, default=100_000)
    parser.add_argument("--dead-every", type=int, default=100, help="1 dead token in N")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    url = fresh_database(args.database_url, "push")
    upgrade(url)
    db = Database(make_engine(url))
    started = time.perf_counter()
    dead = load(db, args.installations, args.dead_every)
    if not db.is_sqlite:
        with db.write() as conn:
            conn.execute(text("ANALYZE"))
    print(f"loaded in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    keys = Keys()
    ca, cert, key = make_certificates(Path(tempfile.mkdtemp(prefix="audience-push-bench-")))
    fakes = Servers(FakeProviders(keys), cert, key)
    fakes.app.token_uri = f"{fakes.http_url}/token"
    unregistered: Any = (
        404,
        {"error": {"status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}},
        {},
    )
    gone: Any = (410, {"reason": "Unregistered"}, {})
    fakes.app.script = {t: [gone if int(t[-7:]) % 2 else unregistered] for t in dead}
    fakes.start()

    os.environ |= {
        "AUDIENCE_SECRET_KEY": SECRET_KEY,
        "AUDIENCE_FCM_URL": fakes.http_url,
        "AUDIENCE_APNS_URL": fakes.tls_url,
        "AUDIENCE_APNS_SANDBOX_URL": fakes.tls_url,
        "AUDIENCE_PUSH_CA_FILE": str(ca),
    }
    admin = {"Authorization": f"App {ADMIN_KEY}"}
    peak = 0.0
    with (
        server(url, ADMIN_KEY, start_timeout=300) as (base_url, pid),
        httpx.Client(base_url=base_url, timeout=120) as http,
    ):
        account = {
            "type": "service_account",
            "project_id": "bench",
            "private_key": pem(keys.rsa_key),
            "client_email": "bench@bench.iam.gserviceaccount.com",
            "token_uri": fakes.app.token_uri,
        }
        http.put(
            "/v1/apps/app/push/fcm", json={"serviceAccount": account}, headers=admin
        ).raise_for_status()
        http.put(
            "/v1/apps/app/push/apns",
            json={
                "keyId": "KEY1234567",
                "teamId": "TEAM123456",
                "bundleId": "com.bench",
                "privateKey": pem(keys.ec_key),
                "environment": "production",
            },
            headers=admin,
        ).raise_for_status()
        started = time.perf_counter()
        created = http.post(
            "/v1/messages",
            json={
                "applicationCode": APP_CODE,
                "audience": {"segmentId": SEGMENT},
                "notification": {"title": "Sale", "body": "Everything must go"},
            },
            headers=admin,
        )
        created.raise_for_status()
        message_id = created.json()["id"]
        answer: dict[str, Any] = {}
        while time.perf_counter() - started < args.timeout:
            peak = max(peak, rss_mb(pid))
            answer = http.get(f"/v1/messages/{message_id}", headers=admin).json()
            if answer["status"] == "done":
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        peak = max(peak, rss_mb(pid))
    fakes.stop()

    received = Counter(r.body["message"]["token"] for r in fakes.app.fcm)
    received.update(r.path.removeprefix("/3/device/") for r in fakes.app.apns)
    expected = {
        f"{'dead' if i % args.dead_every == 0 else 'tok'}-{i:07d}"
        for i in range(args.installations)
    }
    with db.read() as conn:
        dead_left = conn.execute(
            select(func.count())
            .select_from(installations)
            .where(
                installations.c.push_service_token.in_(dead),
                installations.c.uninstalled_at.is_(None),
            )
        ).scalar()
    db.engine.dispose()
    counts = answer.get("counts", {})
    result = {
        "backend": backend_of(url),
        "installations": args.installations,
        "status": answer.get("status"),
        "elapsed_s": round(elapsed, 1),
        "sends_per_s": round(counts.get("targeted", 0) / elapsed, 1),
        "server_rss_mb": round(peak, 1),
        "sent": counts.get("sent"),
        "invalid_tokens": counts.get("invalidTokens"),
        "failed": counts.get("failed"),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "missed": len(expected - set(received)),
        "dead_tokens_left": dead_left,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
