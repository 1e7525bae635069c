"""Hourly builds test the keys they recomputed; the whole suite runs at least daily.

On the hand-made set, landed in three parts:
1. everything before 2026-11-02 23:00 (alice, bob and a bot; their signups): a first run,
   a full refresh, so the whole suite (`all`);
2. carol's pings of 23:00 and 00:00: an incremental run within a day of a whole-suite build,
   so its tests read only the changed cookies (`changed`). Before it, a duplicate of bob's
   `marts.visitors` row is planted in the working database: bob is not changed by part 2,
   so the scoped unique rule on `visitors.cookie` (in `column_values_visitors`) does not
   see it and the run succeeds;
3. alice's later login (accounts, 2026-11-17), with WEBFUNNEL_FULL_TESTS_HOURS=0: the whole
   suite runs, `column_values_visitors` fails on bob's duplicate, and the run fails.

The scoped staging tests are checked on parts 1 and 2 alone, and so is the scope of the
marts' own incremental reads: the sessionized rows written in the same invocation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from ingest.config import work_db_for
from tests.conftest import webfunnel

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).parent / "dbt")
PART_TWO = ("pings/date=2026-11-02/hour=23", "pings/date=2026-11-03/hour=00")
PART_THREE = ("accounts/date=2026-11-17",)
# the relationships test of the credits' conversion ids (dbt's generated name)
CREDITS_TEST = (
    "relationships_int_conversions_credited_conversion_id__conversion_id__"
    "ref_int_conversions_unioned_"
)


def _land(source: Path, landing: Path, prefixes: tuple[str, ...] | None) -> None:
    """Copy the files under these prefixes (None: those under no prefix of parts 2 and 3)."""
    for file in sorted(source.rglob("*.parquet")):
        relative = file.relative_to(source).as_posix()
        later = relative.startswith(PART_TWO + PART_THREE)
        if (prefixes is None and later) or (
            prefixes is not None and not relative.startswith(prefixes)
        ):
            continue
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, landing / relative)


def _seed_nodes(target: Path) -> tuple[int, int]:
    """(seeds, tests on seeds) in the last build's run_results.json."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    ids = [result["unique_id"] for result in results]
    seeds = [i for i in ids if i.startswith("seed.")]
    on_seeds = [
        i for i in ids if i.startswith("test.") and ("plan_tiers" in i or "channel_sources" in i)
    ]
    return len(seeds), len(on_seeds)


def _first_run(source: Path, tmp_path: Path) -> tuple[Path, tuple[str, ...], Path]:
    """Part 1 landed and run (a full refresh): (landing, the run's arguments, working db)."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    args = ("--quiet", "--landing", str(landing), "--warehouse", str(warehouse))
    _land(source, landing, None)
    webfunnel("run", *args)
    return landing, args, work_db_for(warehouse)


def test_scoped_tests_then_the_whole_suite(handmade_reference, tmp_path):
    source, _ = handmade_reference
    landing, args, work = _first_run(source, tmp_path)
    target = Path(str(work).replace(".duckdb", ".dbt-target"))
    # the first build is a full refresh: it loads the two seeds and runs their 8 tests
    assert _seed_nodes(target) == (2, 8)

    with duckdb.connect(str(work)) as con:
        con.execute(
            "insert into marts.visitors select * from marts.visitors where cookie = 'c_bob'"
        )
    _land(source, landing, PART_TWO)
    webfunnel("run", *args)  # scoped: bob's duplicate is not among the changed cookies

    # an incremental build leaves the seeds and their tests out; the tables stay loaded
    assert _seed_nodes(target) == (0, 0)
    with duckdb.connect(str(work), read_only=True) as con:
        assert con.execute("select count(*) from seeds.plan_tiers").fetchone() == (4,)
    compiled = next(target.rglob("column_values_visitors.sql")).read_text()
    assert "cookie_key in (select cookie_key from" in compiled and "int_cookies_changed" in compiled
    assert "rowid in (select rowid from" in compiled  # macro rows_with_keys
    # pageviews -> sessions: child and parent both confined to the changed cookies; the
    # child, a view on DuckDB (no row ids), by the stamp of the rows this build wrote
    relationship = next(target.rglob("relationships_pageviews_session_id*.sql")).read_text()
    assert relationship.count("int_cookies_changed") == 1 and "dbt_parent" in relationship
    assert relationship.count("built_at = cast(") == 1
    pageviews = next(target.rglob("column_values_pageviews.sql")).read_text()
    assert "built_at = cast(" in pageviews and "rowid" not in pageviews
    # retention's cohort members: the changed cookies' and persons' rows
    for model in ("int_cohort_members_assigned", "int_cohort_activity_joined"):
        members = next(target.rglob(f"column_values_{model}.sql")).read_text()
        assert "int_cookies_changed" in members and "int_persons_changed" in members
    # the staged events' unique test: the new batches' events (from the earliest of their
    # partitions on: macro new_batch_rows), by key, fetched by row id
    unique = next(target.rglob("unique_stg_pings__pageviews_event_id*.sql")).read_text()
    assert "where (batch_id in (select batch_id from" in unique and "stg_ops__batches_new" in unique
    assert "partition_at >= (select min(partition_at) from" in unique
    assert "rowid in (select rowid from" in unique
    # the contact states: those of the new batches and every state of their persons
    contacts = next(target.rglob("column_values_stg_crm__contacts.sql")).read_text()
    assert (
        "stg_ops__batches_new" in contacts and "or person_id in (select person_id from" in contacts
    )
    # the account events: every row of the new batches' events, by key and row id
    accounts = next(target.rglob("column_values_stg_accounts__events.sql")).read_text()
    assert "stg_ops__batches_new" in accounts and "rowid in (select rowid from" in accounts
    # credits -> conversions: child and parent both confined to the changed persons
    credits = next(target.rglob("relationships_int_conversions_*.sql")).read_text()
    assert credits.count("int_persons_changed") == 2 and "dbt_parent" in credits
    # stg_pings__pageviews -> stg_pings__user_agents: the parent is not per cookie, read whole
    lookup = next(target.rglob("relationships_stg_pings__pagev*.sql")).read_text()
    assert "dbt_parent" not in lookup
    with duckdb.connect(str(work), read_only=True) as con:
        assert con.execute(
            "select count(*) from marts.visitors where cookie = 'c_carol'"
        ).fetchone() == (1,)

    _land(source, landing, PART_THREE)
    failed = webfunnel("run", *args, check=False, env={"WEBFUNNEL_FULL_TESTS_HOURS": "0"})
    assert failed.returncode != 0
    assert "dbt build failed" in failed.stderr and "column_values_visitors" in failed.stderr
    compiled = next(target.rglob("column_values_visitors.sql")).read_text()
    assert "int_cookies_changed" not in compiled
    members = next(target.rglob("column_values_int_cohort_members_assigned.sql")).read_text()
    assert "int_persons_changed" not in members
    relationship = next(target.rglob("relationships_pageviews_session_id*.sql")).read_text()
    assert "int_cookies_changed" not in relationship and "dbt_parent" not in relationship
    credits = next(target.rglob("relationships_int_conversions_*.sql")).read_text()
    assert "int_persons_changed" not in credits and "dbt_parent" not in credits

    with duckdb.connect(str(work), read_only=True) as con:
        scopes = con.execute("select scope from ops.test_scopes order by decided_at").fetchall()
    assert scopes == [("all",), ("changed",), ("all",)]


def test_scoped_staging_tests_read_the_new_batches_rows(handmade_reference, tmp_path):
    """The scoped tests of staged events read the rows of this run's new batches
    (stg_ops__batches_new): in the unique test every row of their events, found by key.

    After a scoped run over part 2 (carol's pings), its last `ops.build_state` row is
    removed, so `stg_ops__batches_new` holds part 2's batches again, and dbt's tests are run
    by hand on the working database. Planted: carol's first event twice and a null `cookie`
    on her second (rows of the new batches), alice's `p1` twice and a null `cookie` on bob's
    `p3` (rows of the first run). The scoped tests count carol's only (1 repeated id, 1
    null); the whole suite counts both (2 and 2). Also planted: the earliest CRM contact
    state twice (a person part 2 has no state of): the scoped test of stg_crm__contacts,
    confined to the persons of the new batches' states, counts none; the whole suite 1.
    Account events: `a1` delivered again in one of part 2's batches and `a2` repeated among
    the first run's rows: scoped 1 (every row of the new batches' events), whole 2. The
    conversions of a person planted in `int_persons_changed` and of alice (not changed):
    a conversion id twice and a credit of a missing conversion each, scoped 1, whole 2."""
    source, _ = handmade_reference
    landing, args, work = _first_run(source, tmp_path)
    _land(source, landing, PART_TWO)
    webfunnel("run", *args)

    with duckdb.connect(str(work)) as con:
        con.execute(
            "delete from ops.build_state "
            "where built_at = (select max(built_at) from ops.build_state)"
        )
        carol = con.execute(
            "select event_id from staging.stg_pings__pageviews where cookie = 'c_carol' "
            "order by created_at, event_id"
        ).fetchall()
        new = con.execute("select count(*) from staging.stg_ops__batches_new").fetchone()[0]
        assert len(carol) >= 2 and new == len(PART_TWO)
        for event_id in (carol[0][0], "p1"):
            inserted = con.execute(
                "insert into staging.stg_pings__pageviews "
                "select * from staging.stg_pings__pageviews where event_id = ?",
                [event_id],
            ).fetchone()
            assert inserted == (1,)
        updated = con.execute(
            "update staging.stg_pings__pageviews set cookie = null where event_id in (?, 'p3')",
            [carol[1][0]],
        ).fetchone()
        assert updated == (2,)
        # a repeated contact state of a person part 2 did not touch (alice's, of the first
        # run): the scoped test reads only the persons of the new batches' states (none)
        duplicated = con.execute(
            "insert into staging.stg_crm__contacts select * from staging.stg_crm__contacts "
            "order by updated_at limit 1"
        ).fetchone()
        assert duplicated == (1,)
        # account events: a1 delivered again in a new batch of part 2 (its other delivery
        # is the first run's), and a2 repeated among the first run's rows. The scoped test
        # reads every row of the new batches' events: a1's two, not a2's
        new_batch = con.execute(
            "select batch_id, partition_at from staging.stg_ops__batches_new limit 1"
        ).fetchone()
        for event_id, batch in (("a1", new_batch), ("a2", None)):
            batch_id, partition_at = batch or (None, None)
            inserted = con.execute(
                "insert into staging.stg_accounts__events by name "
                "select * replace (coalesce(?, batch_id) as batch_id, "
                "coalesce(?, partition_at) as partition_at) "
                "from staging.stg_accounts__events where event_id = ?",
                [batch_id, partition_at, event_id],
            ).fetchone()
            assert inserted == (1,)
        # the conversions: part 2 changed no person (carol's cookie is nobody's), so a
        # planted person stands for a changed one. Alice (unchanged) and the planted person
        # each get a conversion id twice and a credit of a conversion that does not exist;
        # the scoped tests count the planted person's only
        changed = con.execute("select count(*) from intermediate.int_persons_changed").fetchone()
        assert changed == (0,)
        con.execute("insert into intermediate.int_persons_changed (person_id) values ('planted')")
        alice = con.execute(  # alice's signup conversion, copied for both
            "select conversion_id from intermediate.int_conversions_unioned "
            "where conversion_stage = 'signup' and person_id = "
            "(select person_id from staging.stg_signups__signups where event_id = 's1')"
        ).fetchall()
        assert len(alice) == 1
        alice = f"conversion_id = '{alice[0][0]}'"
        for person_id in ("person_id", "'planted'"):  # alice's own, then the planted one
            repeated = con.execute(
                "insert into intermediate.int_conversions_unioned by name "
                f"select * exclude (range) replace ({person_id} as person_id, "
                f"'repeated-' || {person_id} as conversion_id) "
                f"from intermediate.int_conversions_unioned, range(2) where {alice}"
            ).fetchone()
            orphan = con.execute(
                "insert into intermediate.int_conversions_credited by name "
                f"select * replace ({person_id} as person_id, 'orphan' as conversion_id) "
                f"from intermediate.int_conversions_credited where {alice} limit 1"
            ).fetchone()
            assert repeated == (2,) and orphan == (1,)

    def failures(scope: str | None) -> dict[str, int]:
        target = tmp_path / f"target-{scope}"
        env = {**os.environ, "WEBFUNNEL_WORK_DB": str(work)}
        env.pop("WEBFUNNEL_TEST_SCOPE", None)
        if scope:
            env["WEBFUNNEL_TEST_SCOPE"] = scope
        subprocess.run(
            [DBT, "test", "--select", "unique_stg_pings__pageviews_event_id",
             "column_values_stg_pings__pageviews", "column_values_stg_crm__contacts",
             "column_values_stg_accounts__events", "column_values_int_conversions_unioned",
             CREDITS_TEST,
             "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
             "--target-path", str(target), "--log-path", str(tmp_path / "logs")],
            capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip
        results = json.loads((target / "run_results.json").read_text())["results"]
        return {
            r["unique_id"].split(".")[2]: r["failures"]
            for r in results
            if r["unique_id"].startswith("test.")
        }

    assert failures("changed") == {
        "unique_stg_pings__pageviews_event_id": 1,
        "column_values_stg_pings__pageviews": 1,
        "column_values_stg_crm__contacts": 0,
        "column_values_stg_accounts__events": 1,
        "column_values_int_conversions_unioned": 1,
        CREDITS_TEST: 1,
    }
    assert failures(None) == {
        "unique_stg_pings__pageviews_event_id": 2,
        "column_values_stg_pings__pageviews": 2,
        "column_values_stg_crm__contacts": 1,
        "column_values_stg_accounts__events": 2,
        "column_values_int_conversions_unioned": 2,
        CREDITS_TEST: 2,
    }


def test_the_marts_read_the_cookies_this_invocation_sessionized(handmade_reference, tmp_path):
    """An incremental build's per-cookie models read the sessionized rows it wrote (column
    built_at, macro built_in_this_invocation): carol's, changed by part 2, and no other
    cookie's. A `dbt run` by hand of `sessions` alone, without the sessionization, reads
    none and changes nothing: a value planted in carol's `marts.sessions` row stays, where
    reading the changed cookies by key would have rewritten it. (`marts.pageviews` is a view
    on DuckDB: it shows the sessionized rows as they are.)"""
    source, _ = handmade_reference
    landing, args, work = _first_run(source, tmp_path)
    _land(source, landing, PART_TWO)
    webfunnel("run", *args)

    with duckdb.connect(str(work)) as con:
        built = con.execute(
            "select cookie, count(distinct built_at) from intermediate.int_pageviews_sessionized "
            "group by cookie order by cookie"
        ).fetchall()
        latest = con.execute(
            "select distinct cookie from intermediate.int_pageviews_sessionized "
            "where built_at = (select max(built_at) from intermediate.int_pageviews_sessionized)"
        ).fetchall()
        assert [cookie for cookie, _ in built] == ["c_alice", "c_bob", "c_carol"]
        assert all(count == 1 for _, count in built)  # a cookie's rows are written at once
        assert latest == [("c_carol",)]  # the full build wrote alice's and bob's
        planted = con.execute(
            "update marts.sessions set landing_url = 'planted' where cookie = 'c_carol'"
        ).fetchone()[0]
        # carol's sessions: p7 23:50 and p8 00:15 (25 minutes apart), then p9 00:50
        assert planted == 2

    env = {**os.environ, "WEBFUNNEL_WORK_DB": str(work)}
    done = subprocess.run(
        [DBT, "run", "--select", "sessions",
         "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         "--target-path", str(tmp_path / "target-by-hand"), "--log-path", str(tmp_path / "logs")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    with duckdb.connect(str(work), read_only=True) as con:
        assert con.execute(
            "select count(*) from marts.sessions where cookie = 'c_carol' "
            "and landing_url = 'planted'"
        ).fetchone() == (planted,)
