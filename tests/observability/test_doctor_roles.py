"""``zapjobs doctor`` only reads: on a role given the README's read-only GRANTs it reaches the
same verdicts as the tables' owner, with no permission error (the shared server)."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_least_privilege import Roles, roles  # noqa: F401 (the fixture)

pytestmark = pytest.mark.postgres


def test_the_read_only_role_gets_the_owners_verdicts(roles: Roles) -> None:  # noqa: F811
    admin = roles.admin("doctor", "--json")
    reader = roles.reader("doctor", "--json")

    assert "permission denied" not in reader.output, str(reader)
    assert reader.code == admin.code and reader.code in (0, 1), str(reader)
    verdicts = [
        {c["name"]: c["verdict"] for c in json.loads(r.stdout)["checks"]} for r in (admin, reader)
    ]
    assert verdicts[0] == verdicts[1]
    assert "skipped" not in verdicts[1].values()
