"""The kiosk's flows: pure state machines `(state, input) -> (state, effects)`, no I/O, no clock, no Kivy.

`kiosk.flows.kiosk` is the whole kiosk (idle screen, offline banner, language, which flow runs);
`checkin`, `voice`, `rollcall` and `staff` are the flows, `verify` the identity check they share.
`types` holds the inputs the runtime feeds in, the effects it carries out and the views it shows;
`policy` the centre's rules. docs/kiosk.md draws the state diagrams.
"""

from kiosk.flows.kiosk import KioskState, boot, idle_view, step
from kiosk.flows.policy import Context, PinHash, Policy, SpeechAvailability

__all__ = ["Context", "KioskState", "PinHash", "Policy", "SpeechAvailability", "boot", "idle_view", "step"]
