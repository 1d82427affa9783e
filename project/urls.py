"""URLs of the demo project: the admin at /admin/, the REST API at /api/ (its interactive
docs at /api/docs), and / sends visitors to the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from project.api import api

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
