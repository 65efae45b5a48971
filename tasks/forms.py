"""The deployed forms' lists: after `prefect deploy`, the audit types and areas the configuration knows are put
into the deep-dive deployment's form, so the UI offers them as lists to choose from and the server refuses any
other value before a run starts (a deployment's form is drawn from the flow's signature, which cannot know a
council's configuration)."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.exceptions import ObjectNotFound

from qaloop.core.settings import Settings
from qaloop.programmes.deep_dive import DeepDiveRequest

DEEP_DIVE = "deep-dive/deep-dive"


class FormsError(Exception):
    """A deployment whose form cannot take the configuration's lists (not deployed, or of another shape)."""


def fill_forms(settings: Settings) -> dict[str, int]:
    """Put the configuration's choices into the deployed deep-dive form; how many each list now offers."""
    choices = DeepDiveRequest.choices(settings)
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(DEEP_DIVE)
        except ObjectNotFound:
            raise FormsError(
                f"the {DEEP_DIVE} deployment is not on this Prefect server: run `prefect deploy --all` first"
            ) from None
        schema = dict(deployment.parameter_openapi_schema or {})
        fields = schema.get("definitions", {}).get("DeepDiveRequest", {}).get("properties", {})
        missing = [name for name in choices if name not in fields]
        if missing:
            raise FormsError(f"the {DEEP_DIVE} form has no {', '.join(missing)}: deploy this version of qaloop first")
        for name, values in choices.items():
            fields[name]["items"] = {"type": "string", "enum": values}
        client.update_deployment(deployment.id, DeploymentUpdate(parameter_openapi_schema=schema))
    return {name: len(values) for name, values in choices.items()}
