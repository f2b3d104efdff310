"""Templates, pages, error pages and the security headers every UI response carries."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from central.locations import CHINA
from central.web import summaries
from central.web.i18n import HTML_LANG, LANGS, Translator, choose_lang
from central.web.session import LANG_COOKIE, Officer

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
PREFIX = "/ui"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def local_time(moment: datetime | None) -> str:
    """A moment as China time, to the minute ('2026-11-23 16:05'); '' for none."""
    return "" if moment is None else moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def local_seconds(moment: datetime | None) -> str:
    """A moment as China time, to the second."""
    return "" if moment is None else moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def iso_day(day: date | None) -> str:
    """A date as YYYY-MM-DD; '' for none."""
    return "" if day is None else day.isoformat()


_env.filters.update(when=local_time, when_s=local_seconds, day=iso_day, tojson_attr=lambda v: json.dumps(v))


def static_url(path: str) -> str:
    """URL of a file under central/web/static/, with its modification time so browsers refetch a changed file."""
    file = STATIC / path
    version = int(file.stat().st_mtime) if file.exists() else 0
    return f"{PREFIX}/static/{path}?v={version}"


_env.globals.update(static=static_url, PREFIX=PREFIX, LANGS=LANGS, alert_summary=summaries.translate)


def lang_of(request: Request) -> str:
    """The page language: `?lang=` first, then the language cookie, then Chinese."""
    return choose_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def is_htmx(request: Request) -> bool:
    """The request comes from htmx (it wants a fragment, and redirects as HX-Redirect)."""
    return request.headers.get("HX-Request") == "true"


def wants_json(request: Request) -> bool:
    """The request comes from the UI's own scripts (fetch with JSON) or an event stream."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept or "text/event-stream" in accept


def safe_next(target: str | None) -> str:
    """A post-login destination inside the UI; anything else (another host, a scheme) becomes the dashboard."""
    if not target:
        return f"{PREFIX}/dashboard"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(PREFIX + "/") or "\\" in target:
        return f"{PREFIX}/dashboard"
    return target


def render_html(
    request: Request, name: str, officer: Officer | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render a template with the translator, the officer and their CSRF token in its context."""
    lang = lang_of(request)
    t = Translator(lang)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = _env.get_template(name).render(
        t=t,
        lang=lang,
        html_lang=HTML_LANG[lang],
        me=officer.user if officer else None,
        csrf=officer.csrf if officer else "",
        here=_without_lang(here),
        **context,
    )
    return HTMLResponse(body, status_code=status)


def _without_lang(url: str) -> str:
    parts = urlsplit(url)
    query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("lang="))
    return parts.path + (f"?{query}" if query else "")


def login_redirect(request: Request, reason: str) -> Response:
    """Back to the login page saying why (expired / none); htmx and scripts get it in a form they follow."""
    target = f"{PREFIX}/login"
    if reason == "expired":
        target += "?reason=expired"
    if request.method == "GET" and not is_htmx(request) and not wants_json(request):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += ("&" if "?" in target else "?") + "next=" + quote(here, safe="")
    if is_htmx(request):
        return Response(status_code=401, headers={"HX-Redirect": target})
    if wants_json(request):
        return JSONResponse({"error": "not logged in", "login": target}, status_code=401)
    return RedirectResponse(target, status_code=303)


def error_response(request: Request, status: int, detail: str | None, message_key: str | None = None) -> Response:
    """An error as the caller can show it: a page, an htmx fragment in the flash area, or JSON for scripts."""
    t = Translator(lang_of(request))
    key = message_key or (f"error.{status}" if t.has(f"error.{status}") else "error.400")
    if wants_json(request) and not is_htmx(request):
        return JSONResponse({"error": t(key), "detail": detail}, status_code=status)
    if is_htmx(request):
        response = render_html(request, "_error_fragment.html", None, status, message=t(key), detail=detail)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return render_html(request, "error.html", None, status, message=t(key), detail=detail, code=status)


def content_security_policy(tile_url: str) -> str:
    """Scripts, styles and data only from central itself; images also from the configured tile server."""
    img = "'self' data:"
    if tile_url:
        parts = urlsplit(tile_url)
        # Leaflet's {s} spreads requests over sub-domains (a., b., c.): allow them all.
        host = "*." + parts.netloc[4:] if parts.netloc.startswith("{s}.") else parts.netloc
        img += f" {parts.scheme}://{host}"
    return (
        f"default-src 'self'; img-src {img}; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "media-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


def secure(response: Response, tile_url: str) -> Response:
    """Add the headers every UI page carries: CSP, no framing, no caching of personal data."""
    response.headers.setdefault("Content-Security-Policy", content_security_policy(tile_url))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
