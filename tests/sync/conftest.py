from __future__ import annotations

from pathlib import Path

import pytest
from sync_world import World, world_with_shop


@pytest.fixture
def world(tmp_path: Path) -> World:
    return world_with_shop(tmp_path)
