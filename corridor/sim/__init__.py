"""Partner simulators that act as real remote parties over real HTTPS.

- `ReceivePartnerSim`: a receive partner (the demo's MobiCash) serving the receive-partner
  protocol with a wallet book, fault knobs and signed receiver callbacks to EIG.
- `CallbackInbox`: a send partner's (PayFast's) callback server, verifying signatures.
- `SendDriver`: a send partner's systems creating transfers through EIG.
- `spawn_receive_partner` / `spawn_send_callbacks`: the same as child processes.

Each starts with one call and a site directory; see `corridor sim --help` for the CLI.
"""

from corridor.sim.driver import SendDriver, Summary
from corridor.sim.faults import InjectedFaults
from corridor.sim.identity import SimError
from corridor.sim.inbox import CallbackInbox
from corridor.sim.process import SimProcess, spawn_receive_partner, spawn_send_callbacks
from corridor.sim.receive import ReceivePartnerSim

__all__ = [
    "CallbackInbox",
    "InjectedFaults",
    "ReceivePartnerSim",
    "SendDriver",
    "SimError",
    "SimProcess",
    "Summary",
    "spawn_receive_partner",
    "spawn_send_callbacks",
]
