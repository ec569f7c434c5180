"""Finding the endpoint for a target: plugins of the ``optsync.endpoints`` entry-point group, then the built-ins.

Plugins are asked first (in name order) whether they accept a target, so a package can claim
targets the built-ins would take; then ``sql`` (URLs with ``://`` other than ``file://``, and
``odbc:`` strings) and ``folder`` (paths and ``file://`` URLs).
"""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from optsync.endpoints.base import builtin_kind, mask_url
from optsync.errors import BadInput

if TYPE_CHECKING:
    from optsync.endpoints.base import Endpoint

GROUP = "optsync.endpoints"
BUILTINS: dict[str, str] = {
    "sql": "optsync.endpoints.sql:SqlEndpoint",
    "folder": "optsync.endpoints.folder:FolderEndpoint",
}

log = logging.getLogger(__name__)


def _load(spec: str) -> type[Endpoint]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def endpoint_classes() -> dict[str, type[Endpoint]]:
    """Every endpoint class by name, in the order targets are offered to them (cached)."""
    plugins = _plugins()
    builtins = {name: _load(spec) for name, spec in BUILTINS.items() if name not in plugins}
    return plugins | builtins


@lru_cache(maxsize=1)
def _plugins() -> dict[str, type[Endpoint]]:
    """The plugins' endpoint classes by name, in name order (cached)."""
    # start-up time: importlib.metadata loads only when endpoint kinds are looked up
    from importlib.metadata import entry_points

    plugins: dict[str, type[Endpoint]] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if entry.name in BUILTINS and entry.value == BUILTINS[entry.name]:
            continue
        try:
            plugins[entry.name] = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the built-ins
            log.warning(
                "endpoint plugin %s (%s) cannot be loaded: %s", entry.name, entry.value, exc
            )
    return plugins


def endpoint_class(target: str) -> type[Endpoint]:
    """The class of the first endpoint that accepts the target; BadInput when none does.

    Only the built-in that takes the target is imported (a pass to a database never loads
    the folder endpoint), unless a plugin took its name."""
    if not target.strip():
        raise BadInput("the endpoint is empty", "Give a database URL or a folder path")
    plugins = _plugins()
    for cls in plugins.values():
        if cls.accepts(target):
            return cls
    kind = builtin_kind(target)  # the built-ins take what the other does not
    if kind not in plugins:
        return _load(BUILTINS[kind])
    raise BadInput(  # a plugin took the built-in's name, and not this target
        f"no endpoint accepts {mask_url(target)!r}",
        "Give a SQLAlchemy URL, a folder path or a file:// URL",
    )


def endpoint_kind(target: str) -> str:
    """``sql``, ``folder`` or a plugin's kind: what load_endpoint would build for the target."""
    return endpoint_class(target).kind


def load_endpoint(target: str) -> Endpoint:
    """An endpoint for the target, not yet connected (nothing is opened until first use)."""
    return endpoint_class(target)(target)


__all__ = ["endpoint_class", "endpoint_classes", "endpoint_kind", "load_endpoint"]
