"""``duckmesh serve``: the service that alone holds the storage credentials and the mask
secret.  Callers authenticate (``tokens.py``, ``oidc.py``, ``auth.py``); every query runs
through :meth:`federation.Mesh.sql` as the authenticated principal (``service.py``),
over Arrow Flight SQL (``flight.py``, messages in ``flightsql.py``) or HTTP
(``http.py``); ``client.py`` is :func:`federation.connect`.  Imported only by the
``serve`` command and by clients: ``import federation`` stays free of it.
"""
