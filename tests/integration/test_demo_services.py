"""The demo's services come up wherever the demo's folder is."""

from __future__ import annotations

import pytest

from hznctl.demo_services import start_supervisord

pytestmark = pytest.mark.integration


def test_supervisord_comes_up_in_a_folder_too_deep_for_its_socket(tmp_path):
    # supervisord binds "<file>.<pid>" first: past 107 bytes it never answers.
    folder = tmp_path / ("deep-" * 20) / "supervisor"
    sup = start_supervisord(folder)
    try:
        assert sup.client().state() == "RUNNING"
        assert len(str(sup.socket)) < 100
        assert sup.socket_dir is not None and sup.socket_dir.exists()
    finally:
        sup.stop(10)
    assert not sup.socket_dir.exists()
