"""The loaders return tidy, validated frames and refuse broken files with a clear message."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmmteach import data
from lmmteach.data import DataFileError, load_ciproxifan, load_radon, load_sleepstudy

LOADERS = {"ciproxifan.csv": load_ciproxifan, "sleepstudy.csv": load_sleepstudy, "radon.csv": load_radon}


def test_ciproxifan_is_tidy_with_documented_dtypes():
    df = load_ciproxifan()
    assert df.shape == (33, 7)
    assert list(df.columns) == ["id", "part", "Genotype", "Treatment", "WAKE", "NREM", "REM"]
    assert isinstance(df["id"].dtype, pd.CategoricalDtype) and df["id"].nunique() == 18
    assert list(df["Genotype"].cat.categories) == ["wt", "ko"]  # wt is the reference level
    assert list(df["part"].cat.categories) == [1, 2]
    assert df["Treatment"].dtype == float and set(df["Treatment"]) == {0.0, 3.0, 10.0}
    np.testing.assert_allclose(df[["WAKE", "NREM", "REM"]].sum(axis=1), 100.0, atol=1e-5)
    assert (df[["WAKE", "NREM", "REM"]] >= 0).all().all()


def test_sleepstudy_matches_lme4():
    df = load_sleepstudy()
    assert df.shape == (180, 3)
    assert isinstance(df["Subject"].dtype, pd.CategoricalDtype) and df["Subject"].nunique() == 18
    assert df.groupby("Subject", observed=True).size().eq(10).all()
    assert df["Days"].between(0, 9).all()
    # lme4's sleepstudy: mean reaction 298.508 ms, first row 249.56 ms (subject 308, day 0)
    assert df["Reaction"].mean() == pytest.approx(298.50789, abs=1e-4)
    assert df.iloc[0].tolist() == [308, 0, 249.56]


def test_radon_is_the_minnesota_subset():
    df = load_radon()
    assert df.shape == (919, 4)
    assert isinstance(df["county"].dtype, pd.CategoricalDtype) and df["county"].nunique() == 85
    assert set(df["floor"]) == {0, 1}
    assert df["log_radon"].min() == pytest.approx(np.log(0.1), abs=1e-6)  # zeros recorded as 0.1
    # the county-level predictor is constant within each county
    assert df.groupby("county", observed=True)["log_uranium"].nunique().eq(1).all()


def test_loading_does_not_depend_on_the_working_directory(tmp_path):
    code = "from lmmteach.data import load_ciproxifan; print(load_ciproxifan().shape)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(33, 7)"


def test_data_dir_can_be_moved_with_an_environment_variable(tmp_path):
    shutil.copy(data.DATA_DIR / "sleepstudy.csv", tmp_path)
    code = "from lmmteach.data import load_sleepstudy; print(len(load_sleepstudy()))"
    env = {"LMMTEACH_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "180"


def test_shipped_files_match_their_checksums_and_the_datasets_readme():
    readme = (data.DATA_DIR / "README.md").read_text()
    for spec in (data.CIPROXIFAN, data.SLEEPSTUDY, data.RADON):
        assert data.sha256(data.DATA_DIR / spec.filename) == spec.sha256
        assert spec.sha256 in readme, f"datasets/README.md does not list the sha256 of {spec.filename}"


# ---- broken files -------------------------------------------------------------------


def _copy(tmp_path, name):
    target = tmp_path / name
    shutil.copy(data.DATA_DIR / name, target)
    return target


@pytest.mark.parametrize("name", list(LOADERS))
def test_missing_file_is_named(tmp_path, name):
    with pytest.raises(DataFileError, match=r"nothere\.csv: file not found"):
        LOADERS[name](tmp_path / "nothere.csv")


@pytest.mark.parametrize("name", list(LOADERS))
def test_truncated_file_is_refused(tmp_path, name):
    path = _copy(tmp_path, name)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[: len(lines) // 2]))
    with pytest.raises(DataFileError, match=rf"{name}: expected \d+ rows, found \d+"):
        LOADERS[name](path)


@pytest.mark.parametrize("name", list(LOADERS))
def test_file_cut_mid_line_is_refused(tmp_path, name):
    path = _copy(tmp_path, name)
    text = path.read_text()
    path.write_text(text[: int(len(text) * 0.7)])
    with pytest.raises(DataFileError, match=name):
        LOADERS[name](path)


def test_edited_value_fails_the_checksum(tmp_path):
    path = _copy(tmp_path, "ciproxifan.csv")
    df = pd.read_csv(path)
    df.loc[3, "WAKE"] += 1.0
    df.loc[3, "NREM"] -= 1.0  # still sums to 100: only the checksum can tell
    df.to_csv(path, index=False, float_format="%.6f")
    with pytest.raises(DataFileError, match=r"ciproxifan\.csv: sha256 .* the file has been modified"):
        load_ciproxifan(path)
    assert load_ciproxifan(path, verify_checksum=False).loc[3, "WAKE"] == pytest.approx(df.loc[3, "WAKE"])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda df: df.drop(columns="Genotype"), r"missing column\(s\) \['Genotype'\]"),
        (lambda df: df.assign(WAKE=df["WAKE"].astype(object).where(df.index != 5, "twelve")), r"'WAKE' must be numeric, found 'twelve'"),
        (lambda df: df.assign(REM=df["REM"].where(df.index != 2)), r"'REM' has missing values \(file lines \[4\]\)"),
        (lambda df: df.assign(Treatment=df["Treatment"].replace(3.0, 5.0)), r"'Treatment' has unexpected values \[5\.0\]"),
        (lambda df: df.assign(Genotype=df["Genotype"].replace("ko", "KO")), r"'Genotype' has unexpected values \['KO'\]"),
        (lambda df: df.assign(WAKE=df["WAKE"] + 60), r"'WAKE' outside \[0, 100\]"),
        (lambda df: df.assign(NREM=df["NREM"] - 1), r"WAKE \+ NREM \+ REM must be 100"),
    ],
)
def test_corrupt_ciproxifan_names_the_problem(tmp_path, edit, message):
    path = tmp_path / "ciproxifan.csv"
    edit(pd.read_csv(data.DATA_DIR / "ciproxifan.csv")).to_csv(path, index=False)
    with pytest.raises(DataFileError, match=message):
        load_ciproxifan(path, verify_checksum=False)


def test_binary_garbage_is_not_a_csv(tmp_path):
    path = tmp_path / "radon.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFileError, match="radon.csv"):
        load_radon(path)


def test_data_file_error_is_a_value_error():
    assert issubclass(DataFileError, ValueError)
