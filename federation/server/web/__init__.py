"""The web catalog served by ``duckmesh serve``: explore, search, domain and product pages,
my access, access requests and reports, server-rendered with Jinja2 on the same
authenticated identity and the same governance as every query (:func:`app.mount`)."""
