"""``audience simulate``: a fleet of simulated app installs driving a running server through
the client SDK, so a new user gets a realistic data set to explore in minutes.

Each device is one ``MobileClient`` (its own local storage, one shared HTTP connection pool)
living through ``days`` of history: launches, product views, carts, purchases, logins (some
users on two devices, of either platform), logouts, preference changes and a primary device.
Devices run concurrently on a thread pool; events are dated in the simulated past, which the
server accepts up to 30 days back (R8), so the history is kept inside that window.
"""

import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from audience.client import AdminClient, ConflictError, MobileClient

MAX_HISTORY_DAYS = 29.5  # the server refuses events more than 30 days old (R8)
APP_NAME = "Audience Demo"

ATTRIBUTES = [
    ("plan", "string", "person"),
    ("newsletter", "boolean", "person"),
    ("favoriteCategory", "string", "person"),
    ("darkMode", "boolean", "installation"),
]
EVENTS: dict[str, dict[str, str]] = {
    "productView": {"sku": "string", "category": "string"},
    "addToCart": {"sku": "string", "price": "number"},
    "purchase": {"orderId": "string", "amount": "number", "currency": "string", "items": "number"},
}
SEGMENTS: list[tuple[str, dict[str, Any]]] = [
    ("Buyers", {"event": "purchase", "within": {"days": 30}}),
    ("Identified iOS users", {"all": [
        {"identified": True},
        {"installation": {"all": [{"attribute": "platform", "op": "eq", "value": "iOS"}]}},
    ]}),
    ("Newsletter subscribers", {"customAttribute": "newsletter", "op": "eq", "value": True}),
    ("Dormant (no launch in 7 days)", {"event": "AppLaunch", "count": {"lte": 0},
                                       "within": {"days": 7}}),
]  # fmt: skip

CATEGORIES = ["shoes", "jackets", "bags", "watches", "books", "games"]
FIRST_NAMES = ["Ana", "Ivan", "Maja", "Luka", "Sara", "Marko", "Ema", "Josip", "Nina", "Petar"]
LAST_NAMES = ["Horvat", "Kovač", "Babić", "Marić", "Novak", "Jurić", "Knežević", "Vuković"]
LANGUAGES = ["en-GB", "en-US", "hr-HR", "de-DE", "fr-FR", "es-ES"]
ANDROID_MODELS = [("Samsung", "Galaxy S24"), ("Google", "Pixel 8"), ("Xiaomi", "Redmi Note 13")]
IOS_MODELS = [("Apple", "iPhone 15"), ("Apple", "iPhone 14"), ("Apple", "iPhone SE")]


@dataclass
class Stats:
    devices: int = 0
    logins: int = 0
    logouts: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Stats") -> None:
        self.devices += other.devices
        self.logins += other.logins
        self.logouts += other.logouts
        self.events += other.events
        self.errors.extend(other.errors)


def prepare(admin: AdminClient, app_name: str = APP_NAME) -> str:
    """The demo application (found by name, else created) and the definitions the fleet uses;
    answers its ``applicationCode``. Safe to run again."""
    code = next((a["applicationCode"] for a in admin.apps() if a["name"] == app_name), None)
    if code is None:
        code = admin.create_app(app_name)["applicationCode"]
    for name, type_, scope in ATTRIBUTES:
        _ignore_existing(admin.define_attribute, name, type_, scope)
    existing = {definition["id"]: definition for definition in admin.event_definitions()}
    for definition_id, properties in EVENTS.items():
        if definition_id not in existing:
            _ignore_existing(admin.define_event, definition_id, properties)
            continue
        # an older definition of the same name gets the properties it lacks (none change type)
        known = existing[definition_id].get("properties") or {}
        if not set(properties) <= set(known) or not existing[definition_id].get("active", True):
            merged = properties | known
            admin.update_event_definition(definition_id, properties=merged, active=True)
    return code


def create_segments(admin: AdminClient) -> int:
    """The demo segments not there yet (evaluated once, over the whole data set)."""
    existing = {segment["name"] for segment in admin.segments()}
    created = 0
    for name, rule in SEGMENTS:
        if name not in existing:
            admin.create_segment(name, rule, "created by audience simulate")
            created += 1
    return created


def _ignore_existing(define: Callable[..., Any], *args: Any) -> None:
    try:
        define(*args)
    except ConflictError as exc:
        if exc.code != "DEFINITION_EXISTS":
            raise


@dataclass(frozen=True)
class Fleet:
    base_url: str
    application_code: str
    storage_dir: Path
    http: httpx.Client
    users: int
    now: datetime
    history: timedelta
    seed: int


def _system_data(rng: random.Random) -> tuple[str, dict[str, Any]]:
    android = rng.random() < 0.55
    manufacturer, model = rng.choice(ANDROID_MODELS if android else IOS_MODELS)
    data = {
        "osVersion": rng.choice(["13", "14", "15"] if android else ["16.7", "17.4", "17.5"]),
        "deviceManufacturer": manufacturer,
        "deviceModel": model,
        "osLanguage": rng.choice(LANGUAGES),
        "deviceTimezoneOffset": rng.choice([0, 60, 120, -300]),
        "applicationVersion": rng.choice(["2.3.0", "2.4.1", "2.5.0"]),
        "sdkVersion": "audience-python-sdk/0.1",
        "pushServiceType": "Firebase" if android else "APNS",
        "pushServiceToken": f"{rng.getrandbits(128):032x}",
        "notificationsEnabled": rng.random() < 0.8,
    }
    return ("Android" if android else "iOS"), data


def _identity(user: int) -> dict[str, Any]:
    return {"externalUserId": f"user-{user:06d}", "emails": [f"user{user}@example.com"]}


def _profile(rng: random.Random) -> dict[str, Any]:
    return {
        "firstName": rng.choice(FIRST_NAMES),
        "lastName": rng.choice(LAST_NAMES),
        "customAttributes": {"plan": rng.choice(["free", "free", "plus", "gold"])},
    }


def simulate_device(fleet: Fleet, index: int) -> Stats:
    """One install's life from its install day until now."""
    rng = random.Random(fleet.seed * 1_000_003 + index)
    stats = Stats(devices=1)
    platform, data = _system_data(rng)
    start = fleet.now - fleet.history * rng.random() ** 0.7  # more installs early on
    user = rng.randrange(fleet.users) if rng.random() < 0.65 else None
    login_at = start + (fleet.now - start) * rng.random() * 0.5 if user is not None else None
    logout_at = login_at + (fleet.now - login_at) * rng.random() if login_at else None
    if rng.random() > 0.12:
        logout_at = None
    logged_in = False
    with MobileClient(
        fleet.base_url,
        fleet.application_code,
        fleet.storage_dir / f"device-{index}",
        platform=platform,
        system_data=data,
        http=fleet.http,
        flush_interval=None,
        batch_size=250,
    ) as client:
        moment = start
        while moment < fleet.now:
            if login_at is not None and not logged_in and moment >= login_at:
                assert user is not None
                try:
                    client.personalize(
                        _identity(user), _profile(rng), set_as_primary=rng.random() < 0.5
                    )
                    stats.logins += 1
                    logged_in = True
                except ConflictError as exc:  # e.g. a second device of the same user racing
                    stats.errors.append(exc.code)
                login_at = None
            if logged_in and logout_at is not None and moment >= logout_at:
                client.depersonalize()
                stats.logouts += 1
                logged_in, logout_at = False, None
            stats.events += _session(client, rng, moment, logged_in)
            moment += timedelta(hours=rng.expovariate(1 / 20))  # ~1.2 sessions a day
    return stats


def _session(client: MobileClient, rng: random.Random, at: datetime, logged_in: bool) -> int:
    """One app session at ``at``: a launch, some browsing, sometimes a purchase or a setting."""
    sent = int(client.app_launched(at))
    category = rng.choice(CATEGORIES)
    for view in range(rng.randint(0, 3)):
        sku = f"{category[:3].upper()}-{rng.randint(1, 40):03d}"
        client.submit_event(
            "productView", {"sku": sku, "category": category}, at + timedelta(seconds=20 * view)
        )
        sent += 1
        if rng.random() < 0.15:
            price = round(rng.uniform(5, 200), 2)
            client.submit_event(
                "addToCart", {"sku": sku, "price": price}, at + timedelta(minutes=2)
            )
            sent += 1
            if rng.random() < 0.4:
                client.submit_event(
                    "purchase",
                    {
                        "orderId": f"{rng.getrandbits(48):012x}",
                        "amount": price,
                        "currency": "EUR",
                        "items": 1,
                    },
                    at + timedelta(minutes=4),
                )
                sent += 1
    if rng.random() < 0.03:
        client.save_installation({"customAttributes": {"darkMode": rng.random() < 0.5}})
    if logged_in and rng.random() < 0.04:
        client.save_user(
            {
                "customAttributes": {
                    "newsletter": rng.random() < 0.5,
                    "favoriteCategory": category,
                },
                "tags": {"add": [category]},
            }
        )
    return sent


def run(
    base_url: str,
    api_key: str,
    devices: int,
    days: float,
    *,
    app_name: str = APP_NAME,
    concurrency: int = 16,
    seed: int = 1,
    storage_dir: Path | None = None,
    on_device: Callable[[Stats], None] | None = None,
) -> tuple[Stats, str]:
    """Simulate ``devices`` installs over ``days`` (at most 29.5 days back); answers the
    totals and the application code used."""
    with AdminClient(base_url, api_key) as admin:
        code = prepare(admin, app_name)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(timeout=30, limits=limits) as http,
        tempfile.TemporaryDirectory(prefix="audience-fleet-") as scratch,
    ):
        fleet = Fleet(
            base_url=base_url,
            application_code=code,
            storage_dir=storage_dir or Path(scratch),
            http=http,
            users=max(1, int(devices * 0.55)),
            now=datetime.now(UTC) - timedelta(minutes=1),
            history=timedelta(days=min(days, MAX_HISTORY_DAYS)),
            seed=seed,
        )
        total = Stats()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(simulate_device, fleet, i) for i in range(devices)]
            for future in as_completed(futures):
                stats = future.result()
                total.add(stats)
                if on_device:
                    on_device(stats)
    with AdminClient(base_url, api_key) as admin:
        create_segments(admin)
    return total, code
