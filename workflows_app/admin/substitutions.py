"""Substitutions in the admin: each user manages their own ("olga stands in for me from
Monday to Friday"); staff with ``change_substitution`` manage everyone's.

The form checks the rules of :mod:`workflows_app.core.substitution` and that the user has
no other substitution at the same time (:func:`workflows_app.engine.substitution.overlapping`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from workflows_app.admin.base import actor_of
from workflows_app.core import substitution as rules
from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.engine import substitution
from workflows_app.models import Substitution

MANAGE = "workflows_app.change_substitution"
"""The permission to manage everyone's substitutions (without it: one's own)."""


class SubstitutionForm(forms.ModelForm):
    workflow_names = forms.CharField(
        required=False,
        label="Workflows",
        help_text="Workflow names, separated by commas; empty for all workflows.",
    )

    class Meta:
        model = Substitution
        fields = ("user", "substitute", "starts_at", "ends_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["workflow_names"].initial = ", ".join(rules.names(self.instance.workflows))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        names = [name.strip() for name in (data.get("workflow_names") or "").split(",")]
        data["workflows"] = [name for name in names if name]
        if self.errors:
            return data
        user, starts_at, ends_at = data.get("user"), data.get("starts_at"), data.get("ends_at")
        try:
            rules.check(user, data.get("substitute"), starts_at, ends_at, data["workflows"])
        except WorkflowValidationError as exc:
            raise forms.ValidationError(exc.errors) from None
        using = self.instance._state.db or "default"
        clash = substitution.overlapping(using, user, starts_at, ends_at, self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(
                f"{user} already has a substitution at that time: one at a time."
            )
        return data


class SubstitutionAdmin(admin.ModelAdmin):
    form = SubstitutionForm
    list_display = ("user", "substitute", "starts_at", "ends_at", "workflow_list")
    list_filter = ("starts_at",)
    search_fields = ("user", "substitute")
    ordering = ("-starts_at",)

    @admin.display(description="workflows")
    def workflow_list(self, row: Substitution) -> str:
        return ", ".join(rules.names(row.workflows)) or "all"

    def get_queryset(self, request: HttpRequest) -> Any:
        rows = super().get_queryset(request)
        if request.user.has_perm(MANAGE):
            return rows
        me = actor_of(request).user_id
        return rows.filter(Q(user=me) | Q(substitute=me))

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if not request.user.has_perm(MANAGE):
            form.base_fields["user"].initial = actor_of(request).user_id
            form.base_fields["user"].disabled = True  # one's own only
        return form

    def _own(self, request: HttpRequest, obj: Substitution | None) -> bool:
        if request.user.has_perm(MANAGE):
            return True
        return obj is None or obj.user == actor_of(request).user_id

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.has_perm(MANAGE) or obj is None:
            return request.user.is_active and request.user.is_staff
        me = actor_of(request).user_id
        return me in (obj.user, obj.substitute)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff and self._own(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Substitution, form: Any, change: bool) -> None:
        me = actor_of(request).user_id
        if not request.user.has_perm(MANAGE):
            obj.user = me
        obj.workflows = rules.encode(form.cleaned_data.get("workflows"))
        if not change:
            obj.created_by = me
        obj.save()
