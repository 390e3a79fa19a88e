"""The scaffold's template files and their one placeholder syntax (``@@NAME@@``).

Not Jinja2: the workflows are full of GitHub's own ``${{ … }}`` expressions, and a
placeholder that cannot collide with them keeps the templates readable as they are.
"""

from __future__ import annotations

import re
from importlib import resources

PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
WORKFLOWS = ("validate", "deploy", "health")
# The action this repository's own workflows use: the checkout itself.
LOCAL_ACTION = "./"
# Where the validate workflow checks out the target branch, to install hznctl from it.
BASE_CHECKOUT = ".hznctl-base"


def template(name: str) -> str:
    return resources.files("hznctl.scaffold").joinpath("files", name).read_text("utf-8")


def render(template_name: str, /, **values: str) -> str:
    """The template with every ``@@KEY@@`` replaced; a missing value is a bug, not a blank."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1).lower()
        if key not in values:
            raise KeyError(f"template {template_name} needs a value for {match.group(0)}")
        return values[key]

    return PLACEHOLDER.sub(value, template(template_name))


def workflow(name: str, action: str) -> str:
    """A GitHub workflow (validate, deploy or health) that installs hznctl with ``action``.

    The policy check runs the hznctl that the target branch pins: the local action of the
    target branch's checkout, or the action at its fixed ref (never the pull request's).
    """
    base = f"./{BASE_CHECKOUT}" if action == LOCAL_ACTION else action
    return render(f"workflows/{name}.yml", action=action, base_action=base)
