"""``/admin/api/email``: the mail settings in force (no password) and the queue's pending and
failed messages; ``POST /admin/api/email/test`` queues a test message (202: it goes out within
a moment, and a failure shows in the queue)."""

from __future__ import annotations

from gateway.http.adminapi import schemas_email as schemas
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.appservices import services


@bp.get("/email")
@doc("E-mail: the settings in force and the queue", response_schema=schemas.EmailOverview)
@admin_only
def email_overview():
    return ok(services().email_admin().overview())


@bp.post("/email/test")
@doc(
    "Queue a test e-mail",
    request_schema=schemas.EmailTestRequest,
    response_schema=schemas.EmailOverview,
    status=202,
    responses={400: "not an e-mail address", 409: "no email: section is configured"},
)
@admin_only
def email_test():
    data = body(schemas.EmailTestRequest())
    admin = services().email_admin()
    admin.send_test(data["to"], actor=principal().username)
    return ok(admin.overview(), 202)
