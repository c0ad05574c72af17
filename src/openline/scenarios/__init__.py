"""Scenario tests: scripted text calls through openline, checked against the record.

A client of openline's REST and websocket API, like the CLI: it never imports the
server's packages. ``spec`` reads scenario files, ``caller`` drives a text call,
``run`` runs scenarios as calls, ``expect`` checks what was recorded and ``junit``
writes the report CI reads (docs/testing.md).
"""
