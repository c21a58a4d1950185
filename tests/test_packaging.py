"""The distribution's metadata as setuptools reads it: license, license file, no warnings.

setuptools itself reads pyproject.toml here (offline, no build): pytest turns every warning
into an error, so a deprecated form (the license as a TOML table was one) fails the test.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_expression_with_its_file() -> None:
    dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert "Apache-2.0" == dist.metadata.license_expression
    assert ["LICENSE"] == dist.metadata.license_files


def test_license_file_is_the_apache_2_0_text() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" == text.split("\n")[1].strip()
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_build_requires_a_setuptools_that_reads_spdx_licenses() -> None:
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    assert "setuptools>=77" in build["requires"]  # PEP 639 `license` strings need 77
