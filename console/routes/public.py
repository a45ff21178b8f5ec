"""The office's public status page: off unless ``web.public.enabled``; only what ``show`` lists."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.routes.overview import overview_of
from console.snapshot import default_period
from console.web import render, state

DEFAULT_TITLE = "政务新媒体监测情况"


async def public_page(request: Request) -> Response:
    st = state(request)
    public = st.config.web.public
    if not public.enabled:
        raise HTTPException(404)
    period = default_period(st.store)  # no period from the query: the office publishes the current one
    snapshot = await st.cache.get(period)
    view = overview_of(snapshot, None)
    return render(request, "public.html", title=public.title or DEFAULT_TITLE, period=period, view=view,
                  show=set(public.show), heading=public.title or DEFAULT_TITLE)


ROUTES = [Route("/public", public_page, methods=["GET"])]
