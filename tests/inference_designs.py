"""The designs of tests/fixtures/inference_reference.json as data frames and REML fits (shared by tests)."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import pandas as pd

from lmmteach import reml
from lmmteach.data import load_sleepstudy

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "inference_reference.json").read_text())
DESIGNS = sorted(REFERENCE["designs"])


def ciproxifan_frame() -> pd.DataFrame:
    """The fixture's ciproxifan data with dose (0, 3, 10) also as a factor, as the R script has it."""
    data = pd.read_csv(FIXTURES / "ciproxifan.csv", dtype={"id": str})
    data["id"] = pd.Categorical(data["id"], categories=list(dict.fromkeys(data["id"])))
    data["Genotype"] = pd.Categorical(data["Genotype"], categories=["wt", "ko"])
    data["dose"] = pd.Categorical(data["Treatment"].astype(int).astype(str), categories=["0", "3", "10"])
    return data


def frame(file: str) -> pd.DataFrame:
    """A fixture's data set with its grouping and factor columns as categories."""
    if file == "ciproxifan.csv":
        return ciproxifan_frame()
    if file == "sleepstudy":
        return load_sleepstudy()
    data = pd.read_csv(FIXTURES / file)
    for column in data.columns:
        if data[column].dtype == object or column == "subject":
            data[column] = pd.Categorical(data[column].astype(str))
    return data


@lru_cache(maxsize=None)
def fitted(name: str) -> reml.MixedLMResult:
    """The REML fit of one fixture design (cached: several tests read it)."""
    design = REFERENCE["designs"][name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reml.SingularFitWarning)
        return reml.fit(design["formula"], frame(design["data"]))


def as_list(value) -> list:
    """jsonlite writes a length-one vector as a scalar."""
    return value if isinstance(value, list) else [value]
