"""The analyst tables as an analyst reads them: DuckDB and pyarrow over the
Parquet files that `tracepipe process` writes.

TRACEPIPE_OUT names the output directory:

    <out>/tables/examples/suite=<suite>/date=<YYYY-MM-DD>/part-<stream>-<seq>.parquet
        (date: the UTC day the session was recorded, __HIVE_DEFAULT_PARTITION__
        when its recording has no clock)
    <out>/tables/actions/suite=…/date=…/part-….parquet
    <out>/examples/<example-id>/messages.jsonl

Run:  PY="$(scripts/setup-python.sh)" && TRACEPIPE_OUT=/path/to/out "$PY" -m pytest tests/python
"""

import collections
import json
import os
import pathlib
import re
import urllib.parse

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

TABLES = ("examples", "actions")
PARTITION_COLUMNS = ("suite", "date")
PART_NAME = re.compile(r"part-[A-Za-z0-9._-]+-\d{20}\.parquet")

if not os.environ.get("TRACEPIPE_OUT"):
    pytest.skip("TRACEPIPE_OUT is not set", allow_module_level=True)


@pytest.fixture(scope="module")
def out() -> pathlib.Path:
    path = pathlib.Path(os.environ["TRACEPIPE_OUT"])
    for table in TABLES:
        assert (path / "tables" / table).is_dir(), f"no {table} table under {path}"
    return path


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    # Dates of TIMESTAMPTZ values below are taken in UTC, as the writer does.
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def files(out: pathlib.Path, table: str) -> list[pathlib.Path]:
    found = sorted((out / "tables" / table).rglob("*.parquet"))
    assert found, f"no Parquet files in {table}"
    return found


def duck(out: pathlib.Path, table: str) -> str:
    pattern = str(out / "tables" / table / "**" / "*.parquet").replace("'", "''")
    return f"read_parquet('{pattern}', hive_partitioning = true)"


def arrow(out: pathlib.Path, table: str):
    dataset = ds.dataset(out / "tables" / table, format="parquet", partitioning="hive")
    return dataset.to_table()


def scalar(con, sql: str):
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize("table", TABLES)
def test_files_sit_in_hive_partitions_with_deterministic_names(out, table):
    for path in files(out, table):
        relative = path.relative_to(out / "tables" / table)
        assert len(relative.parts) == 3, relative
        for column, segment in zip(PARTITION_COLUMNS, relative.parts[:2]):
            name, _, value = segment.partition("=")
            assert name == column and value, relative
        date = urllib.parse.unquote(relative.parts[1].partition("=")[2])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}|__HIVE_DEFAULT_PARTITION__", date), relative
        assert PART_NAME.fullmatch(relative.parts[2]), relative


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_and_pyarrow_agree(out, con, table):
    arrow_table = arrow(out, table)
    assert scalar(con, f"SELECT count(*) FROM {duck(out, table)}") == arrow_table.num_rows
    assert arrow_table.num_rows > 0

    duck_partitions = collections.Counter(
        {
            (suite, str(date)): n
            for suite, date, n in con.execute(
                f"SELECT suite, date, count(*) FROM {duck(out, table)} GROUP BY ALL"
            ).fetchall()
        }
    )
    arrow_partitions = collections.Counter(
        zip(
            arrow_table.column("suite").to_pylist(),
            (str(d) for d in arrow_table.column("date").to_pylist()),
        )
    )
    assert duck_partitions == arrow_partitions


def test_counts_agree_with_messages_files_and_action_counts(out, con):
    examples = scalar(con, f"SELECT count(*) FROM {duck(out, 'examples')}")
    messages = list((out / "examples").glob("*/messages.jsonl"))
    assert examples == len(messages)

    actions = scalar(con, f"SELECT count(*) FROM {duck(out, 'actions')}")
    assert scalar(con, f"SELECT sum(action_count) FROM {duck(out, 'examples')}") == actions
    assert pc.sum(arrow(out, "examples").column("action_count")).as_py() == actions


def test_every_example_has_its_messages_file(out, con):
    rows = con.execute(f"SELECT example_id, messages_path FROM {duck(out, 'examples')}").fetchall()
    ids = {example_id for example_id, _ in rows}
    assert len(ids) == len(rows), "example_id is unique"
    assert ids == {p.parent.name for p in (out / "examples").glob("*/messages.jsonl")}
    for example_id, messages_path in rows:
        assert messages_path == f"examples/{example_id}/messages.jsonl"
        lines = (out / messages_path).read_text(encoding="utf-8").splitlines()
        assert lines
        for line in lines:
            assert json.loads(line)["role"] in {"system", "user", "assistant", "tool"}


@pytest.mark.parametrize("table", TABLES)
def test_partition_columns_come_from_the_path_only(out, con, table):
    for path in files(out, table):
        names = pq.read_schema(path).names
        assert not set(PARTITION_COLUMNS) & set(names), path

    # The date partition is the UTC day the session was recorded (NULL when
    # its recording has no clock), not the day it was processed, in both readers.
    assert (
        scalar(
            con,
            f"SELECT count(*) FROM {duck(out, table)} "
            "WHERE date IS DISTINCT FROM CAST(session_started_at AS DATE)",
        )
        == 0
    )
    arrow_table = arrow(out, table)
    days = pc.strftime(arrow_table.column("session_started_at"), format="%Y-%m-%d")
    assert days.to_pylist() == [
        None if d is None else str(d) for d in arrow_table.column("date").to_pylist()
    ]


def test_actions_belong_to_their_examples(out, con):
    mismatched = scalar(
        con,
        f"""
        WITH per_example AS (
            SELECT example_id, suite, date, count(*) AS n,
                   list(action_index ORDER BY action_index) AS indices
            FROM {duck(out, 'actions')} GROUP BY ALL
        )
        SELECT count(*) FROM {duck(out, 'examples')} e
        FULL JOIN per_example a USING (example_id)
        WHERE e.action_count <> coalesce(a.n, 0)
           OR (a.n IS NOT NULL AND (e.suite <> a.suite OR e.date <> a.date
               OR a.indices <> range(0, a.n)::INTEGER[]))
        """,
    )
    assert mismatched == 0


def test_arguments_and_training_lines_are_json(out, con):
    for (arguments,) in con.execute(f"SELECT arguments FROM {duck(out, 'actions')}").fetchall():
        assert isinstance(json.loads(arguments), dict)

    query = f"SELECT tools, training_line FROM {duck(out, 'examples')}"
    for tools, training_line in con.execute(query).fetchall():
        line = json.loads(training_line)
        assert isinstance(line["messages"], list) and line["messages"]
        assert isinstance(line["tools"], list)
        called = [
            call["function"]["name"]
            for message in line["messages"]
            for call in message.get("tool_calls") or []
        ]
        assert called == tools


@pytest.mark.parametrize("table", TABLES)
def test_files_are_zstd_with_statistics(out, table):
    for path in files(out, table):
        metadata = pq.ParquetFile(path).metadata
        assert metadata.num_rows > 0, path
        for g in range(metadata.num_row_groups):
            row_group = metadata.row_group(g)
            for c in range(row_group.num_columns):
                column = row_group.column(c)
                assert column.compression == "ZSTD", (path, column.path_in_schema)
                assert column.is_stats_set, (path, column.path_in_schema)
