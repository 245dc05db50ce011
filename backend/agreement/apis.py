"""Agreement, progress, disputed items and consensus as JSON, for reviewers and managers.

Annotators get 403: these figures compare people's work, which blind labelling hides from them.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.agreement.selectors import (
    annotator_activity,
    consensus_for_item,
    items_by_progress,
    submissions_per_day,
)
from backend.agreement.services import agreement_report_view
from backend.audio.selectors import item_access
from backend.projects.models import Membership
from backend.projects.selectors import project_access
from backend.users.auth import current_user

REVIEWER = Membership.Role.REVIEWER


class ProjectAgreementApi(APIView):
    """The cached agreement report; ``stale`` when submissions came in since it was computed
    (a refresh is then requested from the worker, ``refreshing``)."""

    @extend_schema(responses=dict[str, Any])
    def get(self, request: Request, project_id: int) -> Response:
        access = project_access(user=current_user(request), project_id=project_id, minimum=REVIEWER)
        view = agreement_report_view(project=access.project)
        return Response(
            {
                "project": access.project.pk,
                "computed_at": view.computed_at,
                "compute_s": view.compute_s,
                "stale": view.stale,
                "refreshing": view.refreshing,
                "submitted": view.submitted,
                "reflects_submitted": view.reflects_submitted,
                "report": view.report,
            }
        )


class ProjectProgressApi(APIView):
    """Items by state, submissions per day and a per-annotator table (live counts; lead times
    and agreement per annotator come from the cached report)."""

    class InputSerializer(serializers.Serializer):
        days = serializers.IntegerField(min_value=1, max_value=3650, default=60)

    @extend_schema(parameters=[InputSerializer], responses=dict[str, Any])
    def get(self, request: Request, project_id: int) -> Response:
        access = project_access(user=current_user(request), project_id=project_id, minimum=REVIEWER)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        since = timezone.now().date() - timedelta(days=params.validated_data["days"] - 1)
        view = agreement_report_view(project=access.project)
        figures = {row["annotator_id"]: row for row in (view.report or {}).get("annotators", [])}
        annotators = []
        for row in annotator_activity(project=access.project):
            cached = figures.get(row["annotator_id"], {})
            annotators.append(
                {
                    **row,
                    "median_lead_time_s": cached.get("median_lead_time_s"),
                    "kappa_vs_others": cached.get("kappa_vs_others"),
                    "agreement_vs_consensus": cached.get("agreement_vs_consensus"),
                    "agreement_vs_truth": cached.get("agreement_vs_truth"),
                    "segment_f1_vs_consensus": cached.get("segment_f1_vs_consensus"),
                    "segment_f1_vs_truth": cached.get("segment_f1_vs_truth"),
                }
            )
        return Response(
            {
                "project": access.project.pk,
                "annotations_per_item": access.project.annotations_per_item,
                "items": items_by_progress(project=access.project),
                "submissions_per_day": [
                    {"day": day, "submitted": n}
                    for day, n in submissions_per_day(project=access.project, since=since)
                ],
                "annotators": annotators,
            }
        )


class ProjectDisputedItemsApi(APIView):
    """The items annotators disagree on most, from the cached report (at most 100)."""

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=100, default=20)

    @extend_schema(parameters=[InputSerializer], responses=dict[str, Any])
    def get(self, request: Request, project_id: int) -> Response:
        access = project_access(user=current_user(request), project_id=project_id, minimum=REVIEWER)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        view = agreement_report_view(project=access.project)
        rows = (view.report or {}).get("disputed_items", [])[: params.validated_data["limit"]]
        results = [
            {**row, "compare_url": f"/items/{row['item_id']}/annotate/?compare=1"} for row in rows
        ]
        return Response(
            {
                "computed_at": view.computed_at,
                "stale": view.stale,
                "next": None,
                "previous": None,
                "results": results,
            }
        )


class ItemConsensusApi(APIView):
    """Consensus of one item: majority vote per clip group (ties flagged) and merged segments
    with their support."""

    class InputSerializer(serializers.Serializer):
        min_iou = serializers.FloatField(min_value=0.01, max_value=1.0, default=0.3)

    @extend_schema(
        parameters=[OpenApiParameter("min_iou", float, description="segment matching threshold")],
        responses=dict[str, Any],
    )
    def get(self, request: Request, item_id: int) -> Response:
        item, _ = item_access(user=current_user(request), item_id=item_id, minimum=REVIEWER)
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        consensus = consensus_for_item(item=item, min_iou=params.validated_data["min_iou"])
        data = asdict(consensus)
        data["tied"] = consensus.tied
        return Response(data)
