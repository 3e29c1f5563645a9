"""The production files under `deploy/` as the native tests and operators use them.

`render_template` does what the nginx image does with `/etc/nginx/templates/*.template`
(envsubst over the variables that are defined): `${NAME}` is replaced for every `NAME`
given, and everything else — nginx's own `$variables` — stays as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

#: The repository's deploy/ folder (the production configs: nginx, prometheus, grafana, nats).
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


class MissingVariable(KeyError):
    """A template names a `${TFLOW_…}` variable that has no value."""


def render_template(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `${NAME}` of `values` replaced. Raises `MissingVariable` for a
    `${TFLOW_…}` name without a value (a half-rendered config must not start)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in values:
            return values[name]
        if name.startswith("TFLOW_"):
            raise MissingVariable(f"{name} has no value")
        return m.group(0)

    return _VARIABLE.sub(one, text)
