"""A tenant's fleet as Terraform configuration (webapp.services.terraform), as plain text."""

from __future__ import annotations

from flask import Response

from webapp.api.base import errors, resource, scope
from webapp.services import terraform

blp = resource("terraform", "A tenant's servers and DNS records as Terraform configuration.")


@blp.route("/tenants/<slug>/terraform", methods=["GET"])
@errors(blp, 404)
@blp.response(200, content_type="text/plain", description="HCL: providers, the servers as data, "
              "the DNS records with import blocks where the provider can import them")
def export_terraform(slug: str) -> Response:
    return Response(terraform.export(scope(), scope().tenant(slug)), mimetype="text/plain")
