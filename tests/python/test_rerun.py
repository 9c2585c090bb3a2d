"""A rerun of the main job on another day replaces its files: the analyst
tables, as DuckDB reads them, keep their row counts.

`tracepipe process` is run twice over the recorded fixtures into one fresh
directory, the second time with its clock one day later (the hidden `--now`
flag, there for this test). The tables are partitioned by the day each
session was recorded, so the second run's part files land on the first's.

TRACEPIPE_BIN names the binary (`.ci/run` sets it):

    TRACEPIPE_BIN=target/debug/tracepipe "$PY" -m pytest tests/python/test_rerun.py
"""

import datetime
import os
import pathlib
import subprocess

import duckdb
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

if not os.environ.get("TRACEPIPE_BIN"):
    pytest.skip("TRACEPIPE_BIN is not set", allow_module_level=True)


def process(out: pathlib.Path, now: datetime.datetime) -> None:
    recordings = sorted((REPO / "tests" / "fixtures" / "recordings").glob("*.trace.json.gz"))
    assert recordings
    subprocess.run(
        [os.environ["TRACEPIPE_BIN"], "process", "--suite", "gmail", "--out", str(out),
         "--now", now.isoformat(), *map(str, recordings)],
        check=True,
        capture_output=True,
    )


def counts(out: pathlib.Path) -> dict:
    con = duckdb.connect()
    # Dates of TIMESTAMPTZ values are taken in UTC, as the writer does.
    con.execute("SET TimeZone = 'UTC'")
    try:
        found = {}
        for table in ("examples", "actions"):
            pattern = str(out / "tables" / table / "**" / "*.parquet").replace("'", "''")
            source = f"read_parquet('{pattern}', hive_partitioning = true)"
            found[table] = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
            found[f"{table} by date"] = sorted(
                (str(d), n)
                for d, n in con.execute(f"SELECT date, count(*) FROM {source} GROUP BY ALL").fetchall()
            )
        found["processed on"] = sorted(
            str(d)
            for (d,) in con.execute(
                "SELECT DISTINCT CAST(created_at AS DATE) FROM "
                f"read_parquet('{str(out / 'tables' / 'examples' / '**' / '*.parquet')}')"
            ).fetchall()
        )
        return found
    finally:
        con.close()


def test_a_rerun_a_day_later_keeps_the_row_counts(tmp_path):
    today = datetime.datetime.now(datetime.timezone.utc)
    process(tmp_path, today)
    first = counts(tmp_path)
    assert first["examples"] > 0 and first["actions"] > 0

    process(tmp_path, today + datetime.timedelta(days=1))
    second = counts(tmp_path)
    # The rows were rewritten (they now say they were made a day later)…
    assert second["processed on"] == [str((today + datetime.timedelta(days=1)).date())]
    # …in the same files: not one row more, in the same date partitions.
    for key in ("examples", "actions", "examples by date", "actions by date"):
        assert second[key] == first[key], key
