"""What the data dir and the flags add to the page, as A1111 does: user.css after the page's own
CSS, notification.mp3 served for the page's end-of-job sound, and the footer's API link to the
REST docs (with --api only)."""

import html
import json
from pathlib import Path

USER_CSS = "user.css"
NOTIFICATION_SOUND = "notification.mp3"
NOTIFICATION_ROUTE = "/notification.mp3"
API_FOOTER_ID = "sd_api_footer"


def user_css(data_dir: Path) -> str:
    """The data dir's user.css (appended last, so its rules win), or "" when there is none."""
    try:
        return (data_dir / USER_CSS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def add_notification_route(app, data_dir: Path) -> None:
    """GET /notification.mp3: that one file of the data dir, 404 while it is absent (the page asks
    once and stays silent then). Looked up on each request: adding the file needs no restart of
    the server, only a reload of the page."""
    from fastapi import HTTPException
    from fastapi.responses import FileResponse

    sound = data_dir / NOTIFICATION_SOUND

    def notification_sound():
        if not sound.is_file():
            raise HTTPException(status_code=404, detail=f"no {NOTIFICATION_SOUND} in the data dir")
        return FileResponse(sound, media_type="audio/mpeg", headers={"Cache-Control": "no-cache"})

    app.add_api_route(NOTIFICATION_ROUTE, notification_sound, methods=["GET"], include_in_schema=False)


def api_footer_html(attention: str = "", api: bool = True) -> str:
    """The footer: the REST API link (with --api) and, when given, modules.attention's describe()
    of the attention backend every loaded model runs with."""
    parts = []
    if api:
        parts.append(
            '<a href="/docs" target="_blank" rel="noopener">Use via API</a>'
            " · the A1111 API: <code>/sdapi/v1/txt2img</code>, <code>/sdapi/v1/img2img</code>,"
            " <code>/sdapi/v1/extra-single-image</code>, <code>/sdapi/v1/options</code> ..."
        )
    if attention:
        parts.append(f'<span class="sd-attention">attention: {html.escape(attention)}</span>')
    return f'<div id="{API_FOOTER_ID}" class="sd-api-footer">' + " · ".join(parts) + "</div>"


def with_api_footer(page_script: str, attention: str = "", api: bool = True) -> str:
    """The page script, then our footer put under the page in place of Gradio's, whose "Use via
    API" opens Gradio's own panel of its internal endpoints rather than the REST API. Added from
    the page script: a component added to the built Blocks would re-run their build steps."""
    footer = json.dumps(api_footer_html(attention, api))
    add_footer = (
        "() => {\n"
        f"  if (document.getElementById({json.dumps(API_FOOTER_ID)})) return;\n"
        "  const main = document.querySelector('.gradio-container .main')"
        " || document.querySelector('.gradio-container');\n"
        "  if (main) main.insertAdjacentHTML('beforeend', " + footer + ");\n"
        "}"
    )
    return (
        f"() => {{\n  ({page_script})();\n  try {{ ({add_footer})(); }} catch (error) {{ console.error(error); }}\n}}"
    )
