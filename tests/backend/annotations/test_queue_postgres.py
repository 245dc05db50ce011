"""The queue on Postgres: concurrent claims never share a slot, and the plan reads indexes.

SQLite has no row locks (it serialises writers) and its planner is not Postgres's, so these
tests run only when DATABASE_URL points at Postgres, as in CI.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection

from backend.annotations.models import Annotation
from backend.annotations.services import next_item_claim, queue_claim_query
from backend.audio.models import AudioItem
from backend.projects.models import Membership, Project
from backend.users.models import User
from tests.factories import AnnotationFactory, AudioItemFactory, UserFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks (SKIP LOCKED) and query plans are Postgres behaviour; "
    "runs when DATABASE_URL is Postgres (CI)",
)


def _members(project: Project, n: int) -> list[User]:
    users = [UserFactory() for _ in range(n)]
    Membership.objects.bulk_create(
        Membership(project=project, user=u, role=Membership.Role.ANNOTATOR) for u in users
    )
    return users


def _race(users: list[User], claim: Callable[[User], Any]) -> list[Any]:
    """Run ``claim(user)`` for every user in its own thread (own connection), all at once."""
    barrier = threading.Barrier(len(users))
    results: list[Any] = [None] * len(users)
    errors: list[BaseException] = []

    def run(index: int, user: User) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = claim(user)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def _claimed_item(project: Project) -> Callable[[User], int | None]:
    def claim(user: User) -> int | None:
        got = next_item_claim(project=Project.objects.get(pk=project.pk), user=user)
        return got.item.pk if got is not None else None

    return claim


def _assert_counts_match_leases(project: Project) -> None:
    held = Counter(
        Annotation.objects.filter(
            item__project=project, state="draft", lease_expires_at__isnull=False
        ).values_list("item_id", flat=True)
    )
    for item in AudioItem.objects.filter(project=project):
        assert item.active_annotations == held[item.pk], item.pk
        assert item.active_annotations <= project.annotations_per_item, item.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["sequential", "uncertainty"])
def test_two_annotators_racing_for_the_last_slot_never_share_it(policy):
    for round_ in range(5):
        # given K = 2, the first item with one slot left, and a second item
        project = Project.objects.create(
            name=f"race {round_}", annotations_per_item=2, queue_policy=policy
        )
        first = AudioItemFactory(project=project)
        second = AudioItemFactory(project=project)
        holder, *racers = _members(project, 3)
        assert next_item_claim(project=project, user=holder).item.pk == first.pk
        # when two annotators ask at the same instant
        got = _race(racers, _claimed_item(project))
        # then both are served, on different slots: never both on the first item's last slot
        assert None not in got, round_
        assert Counter(got)[first.pk] <= 1, round_
        assert set(got) <= {first.pk, second.pk}
        _assert_counts_match_leases(project)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["sequential", "uncertainty", "random"])
def test_many_annotators_at_once_get_distinct_slots(policy):
    # given 6 items wanting 1 annotation each and 10 annotators asking at once
    project = Project.objects.create(name="crowd", annotations_per_item=1, queue_policy=policy)
    items = [AudioItemFactory(project=project, queue_rank=(7 * i) % 6) for i in range(6)]
    users = _members(project, 10)
    got = _race(users, _claimed_item(project))
    served = [g for g in got if g is not None]
    # then every item is served exactly once and the rest hear "nothing left" (or, if a lock
    # was held at the instant they looked, try again and get nothing as well)
    assert sorted(served) == sorted(i.pk for i in items)
    _assert_counts_match_leases(project)


def _insert_items(project: Project, n: int, *, full_first: int, k: int) -> None:
    """``n`` ready items in one INSERT ... SELECT generate_series; the first ``full_first``
    already hold their K slots. Columns not named take their model default."""
    overrides = {
        "created_at": "now()",
        "updated_at": "now()",
        "project": "%(project)s",
        "storage_key": "'k/' || g",
        "original_name": "'rec' || g || '.wav'",
        "state": "'ready'",
        "active_annotations": f"CASE WHEN g <= %(full)s THEN {k} ELSE 0 END",
        "queue_rank": "CASE WHEN g <= %(full)s THEN 0 ELSE (g * 7919 %% 100003) END",
    }
    columns, values = [], []
    params: dict[str, Any] = {"project": project.pk, "full": full_first, "n": n}
    for f in AudioItem._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f'"{f.column}"')
        if f.name in overrides:
            values.append(overrides[f.name])
        elif f.null:
            values.append("NULL")
        else:
            params[f.name] = f.get_db_prep_save(f.get_default(), connection)
            values.append(f"%({f.name})s")
    # Names come from the model, values are parameters.
    table, names, exprs = AudioItem._meta.db_table, ", ".join(columns), ", ".join(values)
    sql = f"INSERT INTO {table} ({names}) SELECT {exprs} FROM generate_series(1, %(n)s) AS g"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(f"ANALYZE {AudioItem._meta.db_table}")
        cursor.execute(f"ANALYZE {Annotation._meta.db_table}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "index"),
    [("sequential", "item_queue"), ("uncertainty", "item_queue_level_rank")],
)
def test_the_next_item_plan_reads_one_index_range_not_the_table(policy, index):
    # given 60,000 items, the first 20,000 full, and an annotator with some work done
    project = Project.objects.create(name="plan", annotations_per_item=3, queue_policy=policy)
    _insert_items(project, 60_000, full_first=20_000, k=3)
    me = UserFactory()
    for item in AudioItem.objects.filter(project=project).order_by("id")[20_000:20_050]:
        AnnotationFactory(item=item, annotator=me, state="submitted")
    AudioItem.objects.filter(project=project, annotations__annotator=me).update(
        active_annotations=1
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {AudioItem._meta.db_table}")
    # when next-item looks for a candidate at each fill level
    for level in range(3):
        query = queue_claim_query(project=project, user=me, level=level)
        plan = query.explain(analyze=True)
        # then it walks the queue index of that level, never the whole table
        assert "Seq Scan on audio_audioitem" not in plan, plan
        assert f"Index Scan using {index} on audio_audioitem" in plan, plan
    # and the whole claim serves the first open item I have not done
    claim = next_item_claim(project=project, user=me)
    assert claim is not None
    assert claim.item.active_annotations < 3
    assert not Annotation.objects.filter(item=claim.item, annotator=me, state="submitted").exists()


@pytest.mark.django_db(transaction=True)
def test_a_claim_commits_without_waiting_for_the_disk_and_a_submission_waits():
    # given an annotator and an item
    project = Project.objects.create(name="async claim", annotations_per_item=1)
    AudioItemFactory(project=project)
    (user,) = _members(project, 1)
    seen: list[str] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith(("SET LOCAL synchronous_commit", "SHOW synchronous_commit")):
            seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        # when they ask for their next item, the claim's transaction turns the flush wait off
        claim = next_item_claim(project=project, user=user)
        assert claim is not None
        assert seen == ["SET LOCAL synchronous_commit TO OFF"]
        # and it is local to that transaction: the connection is back to waiting after it
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    # the lease it took is committed and visible to everyone
    assert Annotation.objects.get(pk=claim.annotation.pk).lease_expires_at is not None
