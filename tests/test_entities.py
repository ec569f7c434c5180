"""The entity registry (optsync/entities.py) is whole: every name it gives exists where it
says, and the lists other modules keep are read from it."""

from __future__ import annotations

from typing import Any

import pytest

from optsync import apps
from optsync.endpoints.tables import METADATA
from optsync.entities import ENTITIES, EXPORTED, IMPORTED
from optsync.optima import reader
from optsync.optima.columns import column_map
from optsync.optima.writer import OptimaWriter


@pytest.mark.parametrize("name", list(ENTITIES))
def test_each_entity_names_a_reader_writer_and_tables_that_exist(name: str) -> None:
    spec = ENTITIES[name]
    for function in (spec.reader, spec.query, spec.record):
        assert function is None or callable(getattr(reader, function)), function
    assert spec.writer is None or callable(getattr(OptimaWriter, spec.writer))
    assert (spec.reader is not None) == spec.exported == (spec.outbound_table is not None)
    assert (spec.writer is not None) == spec.imported == (spec.inbox_table is not None)
    for table in (spec.outbound_table, spec.outbound_lines_table, spec.inbox_table,
                  spec.inbox_lines_table):
        assert table is None or table in METADATA.tables
    assert all(key in {f.name for f in spec.outbound} for key in spec.key)


def test_every_decimal_rule_names_a_decimal_column_of_optima() -> None:
    for spec in ENTITIES.values():
        for field in (*spec.inbound, *spec.inbound_lines):
            if field.column is not None:
                table, column = field.column.split(".")
                assert column_map(table)[column].is_decimal, field


def test_the_application_presets_and_the_entity_lists_come_from_the_registry() -> None:
    assert apps.EXPORT_ENTITIES == EXPORTED == (
        "products", "prices", "stock", "customers", "documents")
    assert apps.IMPORT_ENTITIES == IMPORTED == (
        "customers", "orders", "receipts", "products", "prices")
    for export, import_ in apps.APPS.values():
        assert set(export) <= set(EXPORTED) and set(import_) <= set(IMPORTED)


def _help(*path: str) -> dict[str, str]:
    import click
    import typer.main

    from optsync.cli.main import app

    command: Any = typer.main.get_command(app)
    for name in path:
        found = command.get_command(click.Context(command), name)
        assert found is not None, name
        command = found
    return {p.name or "": getattr(p, "help", "") or "" for p in command.params}


def test_the_help_texts_that_list_entities_list_the_registrys_in_its_order() -> None:
    add = _help("integration", "add")
    assert ", ".join(EXPORTED) in add["export"]
    assert ", ".join(IMPORTED) in add["import_"]
    everything = list(dict.fromkeys(EXPORTED + IMPORTED))
    words = ", ".join(everything[:-1]) + " or " + everything[-1]
    assert words in _help("run")["entity"]
