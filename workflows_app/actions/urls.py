"""URLs of the action links' pages: include them under any prefix."""

from __future__ import annotations

from django.urls import path

from workflows_app.actions import views

app_name = "workflows_actions"

urlpatterns = [path("<str:token>/", views.answer, name="answer")]
