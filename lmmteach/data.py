"""Load the course's data sets as tidy, validated DataFrames.

Each loader reads a CSV shipped in ``datasets/`` (found relative to this
package, so the current directory does not matter; set ``LMMTEACH_DATA_DIR``
to use another folder), checks what it read — columns, types, missing values,
ranges, number of rows, sha256 of the file — and raises :class:`DataFileError`
naming the file and the problem when any check fails. Grouping and factor
columns come back as pandas ``category``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(os.environ.get("LMMTEACH_DATA_DIR", Path(__file__).resolve().parent.parent / "datasets"))


class DataFileError(ValueError):
    """A data file is missing, unreadable or not what the course expects."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "float", "int", "str"
    low: float | None = None
    high: float | None = None
    levels: tuple | None = None  # allowed values, for factor columns


@dataclass(frozen=True)
class Spec:
    filename: str
    sha256: str
    rows: int
    columns: tuple[Column, ...] = field(default_factory=tuple)


CIPROXIFAN = Spec(
    "ciproxifan.csv",
    "f10154953e57f6a9cfea94ac797d641f7410e42d7352c34f8714963d1e7139d0",
    33,
    (
        Column("id", "int", 1, 18),
        Column("part", "int", levels=(1, 2)),
        Column("Genotype", "str", levels=("wt", "ko")),
        Column("Treatment", "float", levels=(0.0, 3.0, 10.0)),
        Column("WAKE", "float", 0, 100),
        Column("NREM", "float", 0, 100),
        Column("REM", "float", 0, 100),
    ),
)
SLEEPSTUDY = Spec(
    "sleepstudy.csv",
    "59678310ccb961afd980eeb9122a22b914243fa8d29f40945b9f93a7b5ee1f4b",
    180,
    (
        Column("Subject", "int", 300, 400),
        Column("Days", "int", 0, 9),
        Column("Reaction", "float", 100, 600),
    ),
)
RADON = Spec(
    "radon.csv",
    "d608ee9486c8e20ed48b17d82495fbf42717b52b23f46c699692c4a7300ddfbc",
    919,
    (
        Column("county", "str"),
        Column("floor", "int", levels=(0, 1)),
        Column("log_radon", "float", -5, 5),
        Column("log_uranium", "float", -3, 3),
    ),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_checked(spec: Spec, path: Path | str | None, verify_checksum: bool) -> pd.DataFrame:
    """Read ``path`` (default: the shipped file) and check it against ``spec``."""
    path = Path(path) if path is not None else DATA_DIR / spec.filename
    if not path.is_file():
        raise DataFileError(f"{path}: file not found (the course ships it in datasets/; is the clone complete?)")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: not a readable CSV file ({err})") from None

    expected = [c.name for c in spec.columns]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise DataFileError(f"{path}: missing column(s) {missing}; expected {expected}, found {list(frame.columns)}")
    frame = frame[expected]
    if len(frame) != spec.rows:
        raise DataFileError(f"{path}: expected {spec.rows} rows, found {len(frame)} (truncated or edited?)")

    for col in spec.columns:
        values = frame[col.name]
        if values.isna().any():
            rows = [int(i) + 2 for i in np.flatnonzero(values.isna().to_numpy())[:5]]  # +2: header line, 1-based
            raise DataFileError(f"{path}: column {col.name!r} has missing values (file lines {rows})")
        if col.kind in ("float", "int"):
            numeric = pd.to_numeric(values, errors="coerce")
            if numeric.isna().any():
                bad = values[numeric.isna()].iloc[0]
                raise DataFileError(f"{path}: column {col.name!r} must be numeric, found {bad!r}")
            if col.kind == "int" and not np.all(numeric == np.round(numeric)):
                raise DataFileError(f"{path}: column {col.name!r} must hold whole numbers")
            if not np.all(np.isfinite(numeric)):
                raise DataFileError(f"{path}: column {col.name!r} has infinite values")
            if col.low is not None and (numeric.min() < col.low or numeric.max() > col.high):
                raise DataFileError(
                    f"{path}: column {col.name!r} outside [{col.low}, {col.high}] "
                    f"(found {numeric.min()} to {numeric.max()})"
                )
            frame[col.name] = numeric.astype(int if col.kind == "int" else float)
            values = frame[col.name]
        if col.levels is not None:
            unknown = sorted(set(values) - set(col.levels), key=str)
            if unknown:
                raise DataFileError(f"{path}: column {col.name!r} has unexpected values {unknown}; allowed {list(col.levels)}")

    if verify_checksum:
        digest = sha256(path)
        if digest != spec.sha256:
            raise DataFileError(
                f"{path}: sha256 {digest[:12]}... does not match the shipped file ({spec.sha256[:12]}...): "
                "the file has been modified. Restore it with `git checkout -- datasets/`, "
                "or pass verify_checksum=False to load your own copy."
            )
    return frame


def load_ciproxifan(path=None, *, verify_checksum: bool = True) -> pd.DataFrame:
    """The ciproxifan study, 33 recordings of 18 mice — a RECONSTRUCTION.

    The study's raw measurements are not public. These values were constructed
    (:mod:`lmmteach.reconstruct`) to have the published design exactly and to
    reproduce the report's published model outputs (Listing 1: OLS; Listing 4:
    REML mixed model); they are not the original measurements.

    Columns: ``id`` (category, mouse), ``part`` (category, experiment part 1 or
    2), ``Genotype`` (category, levels ``wt`` then ``ko``: wild type is the
    reference), ``Treatment`` (float, ciproxifan dose in mg/kg: 0 = saline, 3
    or 10), ``WAKE``, ``NREM``, ``REM`` (float, percent of the recording in
    each stage; they sum to 100).
    """
    frame = _read_checked(CIPROXIFAN, path, verify_checksum)
    total = frame[["WAKE", "NREM", "REM"]].sum(axis=1)
    if not np.allclose(total, 100.0, atol=1e-5):
        raise DataFileError(f"{path or CIPROXIFAN.filename}: WAKE + NREM + REM must be 100 in every row")
    frame["id"] = pd.Categorical(frame["id"], categories=sorted(frame["id"].unique()))
    frame["part"] = pd.Categorical(frame["part"], categories=[1, 2])
    frame["Genotype"] = pd.Categorical(frame["Genotype"], categories=["wt", "ko"])
    return frame


def load_sleepstudy(path=None, *, verify_checksum: bool = True) -> pd.DataFrame:
    """Reaction times under sleep deprivation (lme4's ``sleepstudy``; Belenky et al. 2003).

    Columns: ``Subject`` (category, 18 subjects), ``Days`` (int, days of sleep
    restriction, 0-9), ``Reaction`` (float, mean reaction time in ms).
    """
    frame = _read_checked(SLEEPSTUDY, path, verify_checksum)
    frame["Subject"] = pd.Categorical(frame["Subject"], categories=sorted(frame["Subject"].unique()))
    return frame


def load_radon(path=None, *, verify_checksum: bool = True) -> pd.DataFrame:
    """Household radon in Minnesota (Gelman & Hill 2007), 919 homes in 85 counties.

    Columns: ``county`` (category), ``floor`` (int, floor of the measurement:
    0 = basement, 1 = first floor), ``log_radon`` (float, log of radon activity
    in pCi/L, zeros recorded as 0.1), ``log_uranium`` (float, log of the
    county's soil uranium in ppm, a county-level predictor).
    """
    frame = _read_checked(RADON, path, verify_checksum)
    frame["county"] = pd.Categorical(frame["county"], categories=sorted(frame["county"].unique()))
    return frame
