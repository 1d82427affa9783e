"""The admin's read-only lists of messages: the branches waiting for a message
(subscriptions) and the messages kept (buffered, or remembered for their id).

What a user sees is what the service lets its actor see: the subscriptions of the
instances it sees, the kept messages with ``publish_message`` (or the view permission);
its tenant's only when tenancy is on. Nothing here writes: publishing is the API's and
the command's.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from workflows_app.admin.base import EngineOwnedAdmin, actor_of
from workflows_app.models import MessageModel, MessageSubscriptionModel

__all__ = ["MessageAdmin", "MessageSubscriptionAdmin"]


def _instance_link(instance_id: object) -> str:
    if instance_id is None:
        return "-"
    url = reverse("admin:workflows_app_workflowinstancemodel_change", args=[instance_id])
    return format_html('<a href="{}"><code>{}</code></a>', url, str(instance_id)[:8])


class MessageSubscriptionAdmin(EngineOwnedAdmin):
    list_display = ("message_name", "correlation_value", "waiting_instance", "step_name", "since")
    list_filter = ("message_name",)
    search_fields = ("message_name", "correlation_value")
    ordering = ("created_at",)
    list_per_page = 50
    show_full_result_count = False
    list_title = "Waiting for messages"

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if actor_of(request).scoped:
            return self.list_display
        return (*self.list_display, "tenant_id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageSubscriptionModel]:
        return self.service.message_subscriptions(actor_of(request))

    @admin.display(description="instance")
    def waiting_instance(self, row: MessageSubscriptionModel) -> str:
        return _instance_link(row.instance_id)

    @admin.display(description="waiting since", ordering="created_at")
    def since(self, row: MessageSubscriptionModel) -> object:
        return row.created_at


class MessageAdmin(EngineOwnedAdmin):
    list_display = ("name", "correlation_value", "status", "message_id", "expires_at", "receiver")
    list_filter = ("status", "name")
    search_fields = ("name", "correlation_value", "message_id")
    ordering = ("-created_at",)
    list_per_page = 50
    show_full_result_count = False
    list_title = "Buffered and remembered messages"
    readonly_fields = ("payload",)

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if actor_of(request).scoped:
            return self.list_display
        return (*self.list_display, "tenant_id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageModel]:
        return self.service.kept_messages(actor_of(request))

    @admin.display(description="delivered to")
    def receiver(self, row: MessageModel) -> str:
        return _instance_link(row.instance_id)
