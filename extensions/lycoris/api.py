"""A1111's LoRA routes: `GET /sdapi/v1/loras` and `POST /sdapi/v1/refresh-loras`."""

import json

from .library import NetworkLibrary


def add_routes(app, library: NetworkLibrary) -> None:
    def list_loras() -> list[dict]:
        entries = []
        for network in library.files():
            metadata = network.metadata()
            entries.append(
                {
                    "name": network.name,
                    "alias": metadata.get("ss_output_name") or network.name,
                    # A1111 answers the absolute path; this server does not tell where its files
                    # are, so it is the path below the models folder ("Lora/sub/ink.safetensors").
                    "path": network.shown_path,
                    "metadata": _decoded(metadata),
                }
            )
        return entries

    def refresh_loras() -> dict:
        # Folders are read on every request, so there is nothing to reload; kept for A1111 clients.
        return {}

    app.add_api_route("/sdapi/v1/loras", list_loras, methods=["GET"], tags=["lycoris"])
    app.add_api_route("/sdapi/v1/refresh-loras", refresh_loras, methods=["POST"], tags=["lycoris"])


def _decoded(metadata: dict[str, str]) -> dict:
    # As A1111 answers: kohya stores nested data (ss_tag_frequency, ss_dataset_dirs ...) as JSON
    # text inside the metadata strings; those come back as objects.
    decoded = {}
    for key, value in metadata.items():
        if isinstance(value, str) and value[:1] == "{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        decoded[key] = value
    return decoded
