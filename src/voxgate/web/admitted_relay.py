"""One relay attempt, the same for Realtime calls and GPT-Live sessions: the call's place under the caps,
the upstream call, and the attempt's audit row, in the order that keeps every guarantee cheaply.

The place (caps and budget reservation) is taken before anything goes upstream, and freed if the call
fails. The audit row is written while the upstream makes the call (:meth:`AttemptAudit.alongside`), and
the answer leaves only once the row is committed: a row that cannot be written hangs the call up again
(the browser never gets its answer) and frees its place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from voxgate.control.relay import RelayedCall
from voxgate.core.ledger import new_call_id
from voxgate.web.audit import AttemptAudit
from voxgate.web.services import Services

__all__ = ["relay_admitted"]

#: The end reason of a call whose attempt could not be recorded.
NOT_RECORDED = "not_recorded"


async def relay_admitted(
    services: Services,
    audit: AttemptAudit,
    *,
    user_id: int,
    model: str | None,
    relay: Callable[[str], Awaitable[RelayedCall]],
) -> RelayedCall:
    """``relay(call_id)`` for a new call id, admitted and audited as above; the relayed call."""
    call_id = new_call_id()
    budget = services.budget

    async def admitted() -> RelayedCall:
        if budget is not None:
            await budget.admission.admit_call(user_id, model, call_id)
        try:
            return await relay(call_id)
        except BaseException:
            if budget is not None:
                await budget.admission.release(user_id, call_id)
            raise

    async def unrecorded(relayed: RelayedCall) -> None:
        try:
            await services.supervisor.hangup(relayed.call, NOT_RECORDED)
        finally:
            if budget is not None:
                await budget.admission.release(user_id, call_id)

    return await audit.alongside(admitted(), undo=unrecorded)
