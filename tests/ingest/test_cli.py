"""Errors a user can cause: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from tests.conftest import webfunnel


def _one_line_error(result, expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("webfunnel: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_landing_folder(tmp_path):
    result = webfunnel(
        "run", "--landing", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w.duckdb"),
        check=False,
    )  # fmt: skip
    _one_line_error(result, f"landing folder {tmp_path / 'nope'} does not exist")


def test_warehouse_path_under_a_file(tmp_path):
    (tmp_path / "landing").mkdir()
    (tmp_path / "afile").write_text("x")
    result = webfunnel(
        "run", "--landing", str(tmp_path / "landing"),
        "--warehouse", str(tmp_path / "afile" / "w.duckdb"), check=False,
    )  # fmt: skip
    _one_line_error(result, "cannot create the warehouse folder")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("backfill", "--start", "yesterday", "--end", "2026-11-02"), "not a timestamp"),
        (("backfill", "--start", "2026-11-03", "--end", "2026-11-02"), "backfill window is empty"),
        (
            ("generate", "--out", "x", "--start", "2026-13-01", "--days", "1", "--visitors", "5"),
            "not a date",
        ),
        (
            ("generate", "--out", "x", "--start", "2026-11-01", "--days", "0", "--visitors", "5"),
            "must be at least 1: '0'",
        ),
        (("run", "--bogus"), "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments(tmp_path, args, expected):
    landing = tmp_path / "landing"
    landing.mkdir()
    env = {"WEBFUNNEL_LANDING": str(landing), "WEBFUNNEL_WAREHOUSE": str(tmp_path / "w.duckdb")}
    result = webfunnel(*args, check=False, env=env)
    _one_line_error(result, expected)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--port", "99999"), "argument --port: must be from 1 to 65535: '99999'"),
        (("--port", "80x"), "argument --port: not a whole number: '80x'"),
        (("--workers", "0"), "argument --workers: must be at least 1: '0'"),
        (("--roll-interval", "0"), "argument --roll-interval: must be a positive number"),
        (("--rotate-seconds", "nan"), "argument --rotate-seconds: must be a positive number"),
        (("--max-body-bytes", "0"), "argument --max-body-bytes: must be at least 1: '0'"),
        (("--log-level", "loud"), "argument --log-level: invalid choice: 'loud'"),
    ],
)
def test_bad_collector_arguments(tmp_path, args, expected):
    """Each of these once started a collector with a setting that makes no sense (a zero
    roll interval, no workers, a zero body limit) or ended in an internal error (a port out
    of range, an unknown log level). The timeout fails the test, rather than hanging it, if
    one starts again."""
    result = webfunnel(
        "collect", "--landing", str(tmp_path / "landing"), "--wal-dir", str(tmp_path / "wal"),
        *args, check=False, timeout=60,
    )  # fmt: skip
    _one_line_error(result, expected)
    assert not (tmp_path / "wal").exists()  # nothing was started


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("WEBFUNNEL_MAX_ATTEMPTS=abc", "WEBFUNNEL_MAX_ATTEMPTS='abc' is not a whole number"),
        ("WEBFUNNEL_MAX_ATTEMPTS=0", "WEBFUNNEL_MAX_ATTEMPTS='0' must be at least 1"),
        ("WEBFUNNEL_SETTLE_SECONDS=-1", "WEBFUNNEL_SETTLE_SECONDS='-1' must be at least 0"),
        ("WEBFUNNEL_RETENTION_DAYS=inf", "WEBFUNNEL_RETENTION_DAYS='inf' is not a finite number"),
        ("WEBFUNNEL_FULL_TESTS_HOURS=daily", "WEBFUNNEL_FULL_TESTS_HOURS='daily' is not a number"),
        ("WEBFUNNEL_DBT_THREADS=0", "WEBFUNNEL_DBT_THREADS='0' must be at least 1"),
        (
            "WEBFUNNEL_DUCKDB_CHECKPOINT_THRESHOLD=lots",
            "WEBFUNNEL_DUCKDB_CHECKPOINT_THRESHOLD='lots' is not a size",
        ),
    ],
)
def test_bad_settings_in_the_environment(tmp_path, setting, expected):
    """A setting the pipeline cannot use is the user's one-line error before anything is
    loaded or created. Before, a value that is not a number ended in an internal error, no
    attempts and a negative settling time were taken, and dbt's two failed the build after
    the load."""
    landing = tmp_path / "landing"
    (landing / "pings" / "date=2026-10-05" / "hour=13").mkdir(parents=True)
    name, value = setting.split("=")
    result = webfunnel(
        "run", "--landing", str(landing), "--warehouse", str(tmp_path / "w.duckdb"),
        check=False, env={name: value},
    )  # fmt: skip
    _one_line_error(result, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing"]  # no warehouse, no log


@pytest.mark.parametrize(
    ("command", "setting", "expected"),
    [
        ("run", "WEBFUNNEL_PG_PORT=5432x", "WEBFUNNEL_PG_PORT='5432x' is not a whole number"),
        ("run", "WEBFUNNEL_PG_PORT=70000", "WEBFUNNEL_PG_PORT='70000' must be at most 65535"),
        ("run", "WEBFUNNEL_PG_THREADS=0", "WEBFUNNEL_PG_THREADS='0' must be at least 1"),
        ("report", "WEBFUNNEL_RS_PORT=x", "WEBFUNNEL_RS_PORT='x' is not a whole number"),
        ("report", "WEBFUNNEL_RS_THREADS=-2", "WEBFUNNEL_RS_THREADS='-2' must be at least 1"),
    ],
)
def test_bad_server_settings(tmp_path, command, setting, expected):
    """The same for the servers' settings, checked before connecting: a port that is not a
    number was an internal error, and dbt's threads failed the build after the load."""
    target = "postgres" if command == "run" else "redshift"
    where = (
        ("--landing", str(tmp_path)) if command == "run" else ("--out", str(tmp_path / "r.html"))
    )
    name, value = setting.split("=")
    result = webfunnel(command, "--target", target, *where, check=False, env={name: value})
    _one_line_error(result, expected)


def test_collect_roll_needs_a_write_ahead_log(tmp_path):
    """A mistyped --wal-dir is an error, not "rolled 0 segment(s)"; an empty log rolls
    nothing, and says so."""
    args = ("collect-roll", "--landing", str(tmp_path / "landing"), "--wal-dir")
    missing = webfunnel(*args, str(tmp_path / "wal"), check=False, timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"webfunnel collect-roll: no write-ahead log folder {tmp_path / 'wal'} "
        "(the collector's --wal-dir)"
    ]
    (tmp_path / "wal").mkdir()
    empty = webfunnel(*args, str(tmp_path / "wal"), timeout=120)
    assert empty.stdout.strip() == "rolled 0 segment(s), 0 event(s), 0 file(s)"


def test_report_without_warehouse_writes_no_data_page(tmp_path):
    out = tmp_path / "dash.html"
    result = webfunnel("report", "--out", str(out), "--warehouse", str(tmp_path / "missing.duckdb"))
    assert result.returncode == 0
    assert "No data yet" in out.read_text()
    # and says so, in one line, where a scheduler's log shows it
    assert result.stderr.strip().splitlines() == [
        f"webfunnel: the dashboard shows no data: The warehouse {tmp_path / 'missing.duckdb'} "
        "does not exist."
    ]


def test_summary_without_warehouse(tmp_path):
    result = webfunnel("summary", "--warehouse", str(tmp_path / "missing.duckdb"), check=False)
    _one_line_error(result, "run `webfunnel run` first")


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("summary", "--target", "oracle"), {}, "invalid choice: 'oracle'"),
        (("summary",), {"WEBFUNNEL_TARGET": "oracle"}, "unknown target 'oracle'"),
        # Redshift loads from S3 with COPY: a local landing folder is not its input
        (("run", "--target", "redshift"), {},
         "Redshift loads from S3: set WEBFUNNEL_RS_LANDING=s3://<bucket>/<prefix>"),
        (("backfill", "--start", "2026-11-02", "--end", "2026-11-03"),
         {"WEBFUNNEL_TARGET": "redshift", "WEBFUNNEL_RS_LANDING": "s3://acme/landing"},
         "set WEBFUNNEL_RS_IAM_ROLE to the ARN of the IAM role the cluster uses to read "
         "s3://acme/landing"),
        (("run", "--target", "redshift"),
         {"WEBFUNNEL_RS_LANDING": "s3://acme/landing", "WEBFUNNEL_RS_IAM_ROLE": "arn:r",
          "WEBFUNNEL_RS_HOST": "127.0.0.1", "WEBFUNNEL_RS_PORT": "1",
          "WEBFUNNEL_RS_SSLMODE": "disable"},
         "cannot connect to Redshift webfunnel@127.0.0.1:1/webfunnel"),
        # nothing listens on port 1: the server targets say where they tried to connect
        (("summary", "--target", "postgres"),
         {"WEBFUNNEL_PG_HOST": "127.0.0.1", "WEBFUNNEL_PG_PORT": "1", "WEBFUNNEL_PG_USER": "u"},
         "cannot connect to PostgreSQL u@127.0.0.1:1/webfunnel"),
        (("summary", "--target", "redshift"),
         {"WEBFUNNEL_RS_HOST": "127.0.0.1", "WEBFUNNEL_RS_PORT": "1", "WEBFUNNEL_RS_SSLMODE":
          "disable"}, "cannot connect to Redshift webfunnel@127.0.0.1:1/webfunnel"),
        (("summary", "--target", "redshift"), {"WEBFUNNEL_RS_METHOD": "iam"},
         "WEBFUNNEL_RS_METHOD=iam"),
    ],
)  # fmt: skip
def test_target_errors(tmp_path, args, env, expected):
    landing = tmp_path / "landing"
    landing.mkdir()
    env = {
        "WEBFUNNEL_LANDING": str(landing),
        "WEBFUNNEL_WAREHOUSE": str(tmp_path / "w.duckdb"),
        **env,
    }
    result = webfunnel(*args, check=False, env=env)
    _one_line_error(result, expected)


def test_report_on_an_unreachable_server_is_an_error(tmp_path):
    out = tmp_path / "dash.html"
    env = {"WEBFUNNEL_PG_HOST": "127.0.0.1", "WEBFUNNEL_PG_PORT": "1", "WEBFUNNEL_PG_USER": "u"}
    result = webfunnel("report", "--target", "postgres", "--out", str(out), check=False, env=env)
    _one_line_error(result, "cannot connect to PostgreSQL u@127.0.0.1:1/webfunnel")
    assert not out.exists()


def test_default_paths_are_under_the_project_root(tmp_path, monkeypatch):
    """CONTRACT §1/§3: `data/landing` and `data/warehouse.duckdb` under the project root,
    wherever the command runs from; explicit relative paths are the user's, from the cwd."""
    from ingest.config import PROJECT_ROOT, Paths

    for name in ("WEBFUNNEL_LANDING", "WEBFUNNEL_WAREHOUSE", "WEBFUNNEL_ARCHIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    paths = Paths.resolve()
    assert paths.landing == PROJECT_ROOT / "data" / "landing"
    assert paths.warehouse == PROJECT_ROOT / "data" / "warehouse.duckdb"
    assert paths.archive == PROJECT_ROOT / "data" / "landing-archive"
    explicit = Paths.resolve("in", "out/w.duckdb")
    assert (explicit.landing, explicit.warehouse) == (tmp_path / "in", tmp_path / "out/w.duckdb")


def test_a_bad_duckdb_memory_limit_is_a_one_line_error(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    result = webfunnel(
        "run", "--landing", str(landing), "--warehouse", str(tmp_path / "w.duckdb"),
        check=False, env={"WEBFUNNEL_DUCKDB_MEMORY_LIMIT": "lots"},
    )  # fmt: skip
    _one_line_error(result, "WEBFUNNEL_DUCKDB_MEMORY_LIMIT='lots' is not a size such as 3GB")


@pytest.mark.parametrize(("setting", "shown"), [(None, "2.7 GiB"), ("512MB", "488.2 MiB")])
def test_the_working_database_is_opened_with_the_memory_limit(
    tmp_path, monkeypatch, setting, shown
):
    """DuckDB's own default is 80% of the machine; the pipeline's connections cap it (3GB by
    default, as profiles.yml does for dbt's connection)."""
    from ingest.config import Paths
    from ingest.pipeline import open_work_db

    if setting is None:
        monkeypatch.delenv("WEBFUNNEL_DUCKDB_MEMORY_LIMIT", raising=False)
    else:
        monkeypatch.setenv("WEBFUNNEL_DUCKDB_MEMORY_LIMIT", setting)
    con = open_work_db(Paths(tmp_path / "landing", tmp_path / "w.duckdb", tmp_path / "archive"))
    try:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == shown
    finally:
        con.close()
