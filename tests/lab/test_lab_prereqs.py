"""Prerequisite installation: present packages are left alone, impossible ones fail in one line."""

from __future__ import annotations

import os

import pytest

from harness import prereqs
from harness.prereqs import PrerequisiteError, ensure_debian_packages, ensure_pip


def test_installed_packages_need_nothing():
    assert ensure_debian_packages(["dpkg", "coreutils"]) == []
    assert ensure_pip(["pytest>=7", "paramiko"]) == []
    assert prereqs.missing_debian_packages(["dpkg", "splitbrain-no-such-package"]) == \
        ["splitbrain-no-such-package"]


@pytest.mark.skipif(os.geteuid() != 0, reason="installing Debian packages needs root")
@pytest.mark.timeout(300)
def test_a_package_apt_cannot_find_is_a_one_line_error():
    with pytest.raises(PrerequisiteError) as info:
        ensure_debian_packages(["splitbrain-no-such-package"])
    message = str(info.value)
    assert "\n" not in message and "splitbrain-no-such-package" in message
