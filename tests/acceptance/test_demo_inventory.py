"""The demo inventory (demo/) is valid as committed, its secrets are readable by the demo
keys, and it keeps the example inventory's applications and connections."""

from __future__ import annotations

from hznctl.inventory import load_inventory
from hznctl.secrets.decrypt import clear_cache, decrypt_value, load_identities
from tests.support import DEMO_KEYS, EXAMPLE_INVENTORY, REPO

DEMO_INVENTORY = REPO / "demo" / "inventory"


def test_demo_inventory_is_valid_and_its_secrets_up_to_date(cli):
    result = cli("validate", str(DEMO_INVENTORY), "--strict")
    assert result.exit_code == 0, result.output
    result = cli("secrets", "status", str(DEMO_INVENTORY))
    assert result.exit_code == 0, result.output


def test_demo_keys_read_its_secrets():
    clear_cache()
    inventory = load_inventory(DEMO_INVENTORY).inventory
    for name in ("health-runner", "demo-host"):
        keys = load_identities([DEMO_KEYS / f"{name}.agekey"])
        for connection in inventory.connections.values():
            assert connection.password is not None
            value = decrypt_value(DEMO_INVENTORY / connection.password.sops,
                                  connection.password.key, keys)
            assert value == f"demo-{connection.name}-password"


def test_demo_mirrors_the_example_with_runtimes_that_run_here():
    demo = load_inventory(DEMO_INVENTORY).inventory
    example = load_inventory(EXAMPLE_INVENTORY).inventory
    production = {s for s, a in example.applications.items() if a.environment == "production"}
    assert set(demo.applications) <= production and len(demo.applications) >= 4
    assert {a.runtime.value for a in demo.applications.values()} == {"rq", "command"}
    for slug, app in demo.applications.items():
        assert [w.name for w in app.workers] == [w.name for w in
                                                 example.applications[slug].workers]
