"""The admin's read-only lists of messages: the branches waiting for a message
(subscriptions) and the messages kept (buffered, or remembered for their id).

What a user sees is what the service lets its actor see: the subscriptions of the
instances it sees, the kept messages with ``publish_message`` (or the view permission);
its tenant's only when tenancy is on. Nothing here writes: publishing is the API's and
the command's. As in the other lists, details go on a second, quieter line of a cell.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from workflows_app.admin.base import EngineOwnedAdmin, actor_of
from workflows_app.models import MessageModel, MessageSubscriptionModel
from workflows_app.templatetags import workflows_admin

__all__ = ["MessageAdmin", "MessageSubscriptionAdmin"]


def _instance_link(instance_id: object) -> str:
    if instance_id is None:
        return "-"
    url = reverse("admin:workflows_app_workflowinstancemodel_change", args=[instance_id])
    return format_html('<a href="{}"><code>{}</code></a>', url, str(instance_id)[:8])


def _message(name: str, key: str) -> str:
    return format_html('{}<code class="wf-sub">{}</code>', name, key)


class _MessageListAdmin(EngineOwnedAdmin):
    list_per_page = 50
    show_full_result_count = False

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if actor_of(request).scoped:
            return self.list_display
        return (*self.list_display, "tenant")

    @admin.display(description="tenant", ordering="tenant_id")
    def tenant(self, row: MessageModel | MessageSubscriptionModel) -> str:
        return row.tenant_id or self.get_empty_value_display()


class MessageSubscriptionAdmin(_MessageListAdmin):
    list_display = ("message", "waiting_instance", "since")
    list_filter = ("message_name",)
    search_fields = ("message_name", "correlation_value")
    ordering = ("created_at",)
    list_title = "Waiting for messages"

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageSubscriptionModel]:
        return self.service.message_subscriptions(actor_of(request))

    @admin.display(description="message and key", ordering="message_name")
    def message(self, row: MessageSubscriptionModel) -> str:
        return _message(row.message_name, row.correlation_value)

    @admin.display(description="instance")
    def waiting_instance(self, row: MessageSubscriptionModel) -> str:
        return format_html(
            '{}<span class="wf-sub">at {}</span>', _instance_link(row.instance_id), row.step_name
        )

    @admin.display(description="waiting since", ordering="created_at")
    def since(self, row: MessageSubscriptionModel) -> str:
        return workflows_admin.wf_when(row.created_at)


class MessageAdmin(_MessageListAdmin):
    list_display = ("message", "status", "message_id", "expires", "receiver")
    list_filter = ("status", "name")
    search_fields = ("name", "correlation_value", "message_id")
    ordering = ("-created_at",)
    list_title = "Buffered and remembered messages"
    readonly_fields = ("payload",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[MessageModel]:
        return self.service.kept_messages(actor_of(request))

    @admin.display(description="message and key", ordering="name")
    def message(self, row: MessageModel) -> str:
        return _message(row.name, row.correlation_value)

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, row: MessageModel) -> str:
        return workflows_admin.wf_when(row.expires_at) or self.get_empty_value_display()

    @admin.display(description="delivered to")
    def receiver(self, row: MessageModel) -> str:
        return _instance_link(row.instance_id)
