"""The demo and its sample data, apart from the Optima adapter.

:mod:`optsync.demo.sample` builds Optima-shaped sample databases (for ``optsync demo``, the tests
and the benchmark) from the catalogue in ``data/catalogue.json``; :mod:`optsync.demo.world`
builds the world of ``optsync demo`` under ``<home>/demo`` (companies, a shop database, a till's
folder) and runs a pass of each company. Nothing is imported here, so that loading the package
costs nothing until the demo runs.
"""
