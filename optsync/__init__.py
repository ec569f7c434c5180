"""optsync: the Comarch ERP Optima synchronization automat, driven by the OS scheduler."""

__version__ = "0.1.0"
