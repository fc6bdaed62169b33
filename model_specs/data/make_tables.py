"""Write the Parquet table of the shipped examples from its CSV.

    python model_specs/data/make_tables.py

It writes, beside itself:

- `wine.parquet`: `wine.csv` as Parquet (pyarrow reads the CSV: `magnesium` and `proline`
  int64, the other measurements double, `cultivar` a string), in row groups of 64 rows, so that
  `wine_parquet.yaml` streams it by row group. The values are those of the CSV; only the file's
  metadata (the pyarrow version that wrote it) may change from one run to another.
"""

from __future__ import annotations

from pathlib import Path

from pyarrow import csv, parquet

HERE = Path(__file__).resolve().parent
ROW_GROUP = 64


def main() -> None:
    table = csv.read_csv(HERE / "wine.csv")
    parquet.write_table(table, HERE / "wine.parquet", row_group_size=ROW_GROUP)


if __name__ == "__main__":
    main()
