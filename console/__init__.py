"""The web console (issue 14): a server-rendered ASGI app (Starlette, Jinja2) over the store.

It reads measurements and verdicts through ``monitor.metrics``/``monitor.scoring`` and the
documents through ``dashboards`` (export, bulletin, and the weekly report handed in by the
application), so nothing is computed twice; it never reaches the network. Build it with
:func:`console.app.create_app`; ``wxmon web`` and ``wxmon run`` (``web.enabled``) serve it.
"""
