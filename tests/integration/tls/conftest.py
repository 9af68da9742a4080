"""TLS material generated for each test module (support.certs): a CA, server and client certificates."""

from __future__ import annotations

import pytest
from support.certs import Pki, issue_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return issue_pki(tmp_path_factory.mktemp("pki"))
