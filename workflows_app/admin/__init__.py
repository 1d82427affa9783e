"""The Django admin: the task inbox and the operations console, registered on the default
admin site when Django autodiscovers admin modules."""

from __future__ import annotations

from django.contrib import admin

from workflows_app.admin.definitions import WorkflowDefinitionAdmin
from workflows_app.admin.instances import WorkflowInstanceAdmin
from workflows_app.admin.messages import MessageAdmin, MessageSubscriptionAdmin
from workflows_app.admin.substitutions import SubstitutionAdmin
from workflows_app.admin.tasks import HumanTaskAdmin
from workflows_app.models import (
    HumanTaskModel,
    MessageModel,
    MessageSubscriptionModel,
    Substitution,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

admin.site.register(HumanTaskModel, HumanTaskAdmin)
admin.site.register(WorkflowInstanceModel, WorkflowInstanceAdmin)
admin.site.register(WorkflowDefinitionModel, WorkflowDefinitionAdmin)
admin.site.register(MessageSubscriptionModel, MessageSubscriptionAdmin)
admin.site.register(MessageModel, MessageAdmin)
admin.site.register(Substitution, SubstitutionAdmin)
