"""The standard events' names (R6), apart from ``events.standard`` (which records them): the
checks of an event (``events.validation``) need the names but none of the recording's imports.
"""

INSTALL = "Install"
UNINSTALL = "Uninstall"
PERSONALIZE = "Personalize"
DEPERSONALIZE = "Depersonalize"
APP_LAUNCH = "AppLaunch"
SEGMENT_ENTERED = "SegmentEntered"
SEGMENT_LEFT = "SegmentLeft"
# Sent by the app about a push message (docs/push.md): the one property is the message's id.
PUSH_DELIVERED = "PushDelivered"
PUSH_OPENED = "PushOpened"
PUSH_EVENTS = frozenset({PUSH_DELIVERED, PUSH_OPENED})
STANDARD_EVENTS = frozenset(
    {INSTALL, UNINSTALL, PERSONALIZE, DEPERSONALIZE, APP_LAUNCH, SEGMENT_ENTERED, SEGMENT_LEFT}
    | PUSH_EVENTS
)
