"""The external backend: optsync writes no OS entries; something else calls ``run --due``.

For hosted or container setups, with no OS scheduler of their own: a Kubernetes CronJob,
a CI schedule or a systemd timer runs ``optsync run --due`` every minute, and optsync itself decides
which companies are due. Several hosts sharing one state database may all do so; the company
locks split the work between them. See ``examples/kubernetes-cronjob.yaml`` and
``examples/systemd/``.
"""

from __future__ import annotations

from collections.abc import Sequence

from optsync.schedule.backend import Entry, SchedulerBackend


class ExternalBackend(SchedulerBackend):
    """No entries to render or install: an outside scheduler calls ``optsync run --due``."""

    name = "external"

    @property
    def target(self) -> str:
        return "external scheduler (optsync run --due every minute)"

    def render(self, entries: Sequence[Entry], install_id: str) -> str:
        return ""

    def installed(self, install_id: str) -> str:
        return ""

    def install(self, entries: Sequence[Entry], install_id: str) -> bool:
        return False

    def uninstall(self, install_id: str) -> bool:
        return False
