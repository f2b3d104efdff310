"""Devices of the officer's jurisdiction: online state, last seen, queue depth, camera fps.

The figures come from each device's retained `status` message, which ingest keeps in
`device.status` (the newest by device time; the broker's last will sets `online` false).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from central.api.deps import SessionDep
from central.db.models import Device
from central.scoping import scoped
from central.web.layout import node_names, page
from central.web.render import PREFIX
from central.web.routing import OfficerDep, UiRoute

router = APIRouter(prefix=PREFIX, route_class=UiRoute, include_in_schema=False)


@router.get("/devices")
def device_list(request: Request, officer: OfficerDep, session: SessionDep) -> Response:
    """Kiosks, camera hosts, gateways and trackers with their last reported status."""
    q = scoped(select(Device), Device.node_path, officer.user).order_by(Device.kind, Device.node_path, Device.id)
    return page(
        request,
        officer,
        session,
        "devices.html",
        "devices",
        devices=list(session.execute(q).scalars()),
        names=node_names(session, officer.user),
    )
