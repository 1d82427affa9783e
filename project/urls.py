"""URLs of the demo project: the admin at /admin/, the REST API at /api/ (its interactive
docs at /api/docs), /workflows/actions/ the pages of the action links of task e-mails, / sends
visitors to the admin, and /favicon.ico to the app's icon."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from project.api import api


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Where browsers look for an icon when a page names none (the admin's pages do)."""
    return HttpResponseRedirect(static("workflows_app/favicon.ico"))


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("workflows/actions/", include("workflows_app.actions.urls")),
]
