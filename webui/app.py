"""One server for the UI and the API: FastAPI with the Gradio Blocks mounted at /."""

import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from modules.config.flags import listens_beyond_localhost
from modules.config.settings import SettingsFileError
from modules.engine import Engine

STATIC_DIR = Path(__file__).resolve().parent / "static"


def page_style() -> str:
    """Every webui/static/*.css, in name order."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(STATIC_DIR.glob("*.css")))


def page_script() -> str:
    """Every webui/static/*.js (each an arrow function `() => {...}`), run once on page load in
    name order: Gradio takes one function, so they are called from one (one that throws does not
    stop the others)."""
    parts = [path.read_text(encoding="utf-8").strip().rstrip(";") for path in sorted(STATIC_DIR.glob("*.js"))]
    calls = "".join(f"  try {{ ({part})(); }} catch (error) {{ console.error(error); }}\n" for part in parts)
    return "() => {\n" + calls + "}"


def build_blocks(engine: Engine, restart=None):
    """`restart`: the ServerRestart behind Settings' Reload UI (None: Reload UI reloads the page only)."""
    import gradio as gr

    from webui.components.prompt_box import style_names
    from webui.components.quicksettings import build_quicksettings
    from webui.components.send_to import SendTargets, wire_gallery_send_buttons
    from webui.tabs.checkpoint_merger import build_checkpoint_merger_tab
    from webui.tabs.extensions import build_extensions_tab
    from webui.tabs.extras import build_extras_tab
    from webui.tabs.img2img import build_img2img_tab
    from webui.tabs.outputs import build_outputs_tab
    from webui.tabs.png_info import build_png_info_tab
    from webui.tabs.settings import build_settings_tab
    from webui.tabs.txt2img import build_txt2img_tab

    with gr.Blocks(title="SD Studio", analytics_enabled=False) as blocks:
        checkpoint = build_quicksettings(engine)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                txt2img = build_txt2img_tab(engine, checkpoint.dropdown, checkpoint.clip_skip)
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"):
                img2img = build_img2img_tab(engine, checkpoint.dropdown, checkpoint.clip_skip)
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                extras_image = build_extras_tab(engine)
            targets = SendTargets(tabs, txt2img.paste, extras_image, img2img)
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                png_info_image = build_png_info_tab(engine, targets)
            with gr.Tab("Checkpoint Merger", id="modelmerger", elem_id="tab_modelmerger") as merger_tab:
                build_checkpoint_merger_tab(engine, checkpoint.dropdown, merger_tab)
            with gr.Tab("Outputs", id="outputs", elem_id="tab_outputs") as outputs_tab:
                build_outputs_tab(engine, targets, outputs_tab, png_info_image)
            build_extension_tabs(engine)
            with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions"):
                build_extensions_tab(engine)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings"):
                settings = build_settings_tab(
                    engine, mirrors=checkpoint.controls, notes=checkpoint.notes(), restart=restart
                )
        # The send-to buttons under each gallery reach tabs built after theirs: wired once all exist.
        for source in (txt2img, img2img.generation):
            wire_gallery_send_buttons(source, targets)
        # Each page load shows the checkpoints on disk now, with hashes known since start-up,
        # and the settings as they are now (another page may have changed them).
        blocks.load(checkpoint.refresh, outputs=[checkpoint.dropdown, checkpoint.message])
        # Styles saved from another page since this one was built (a page reload shows them).
        for styles in (txt2img.top.box.styles, img2img.generation.top.box.styles):
            blocks.load(lambda: gr.update(choices=style_names(engine)), outputs=styles, queue=False,
                        show_progress="hidden")  # fmt: skip
        # Filled once the page has read the saved settings: typing into a setting before that
        # would be overwritten (tests wait for it too).
        settings_read = gr.HTML(elem_id="settings_read")
        blocks.load(
            lambda: [*checkpoint.current_values(engine), *settings.current_values()],
            outputs=[*checkpoint.controls.values(), *settings.components, settings_read],
            queue=False,
        )
        # A quick setting and its Settings-tab field show one value.
        checkpoint.mirror_into(settings.by_key)
    return blocks


def build_extension_tabs(engine: Engine) -> None:
    """Tabs from `ui_tabs`; a tab whose render() fails shows the error instead of its controls."""
    import gradio as gr

    from modules.plugins.types import TabSpec

    for owner, spec in engine.extensions.collect("ui_tabs", engine=engine):
        if not isinstance(spec, TabSpec):
            engine.extensions.report_error(owner, f"ui_tabs returned {type(spec).__name__}, not a TabSpec")
            continue
        with gr.Tab(spec.title, elem_id=spec.elem_id):
            try:
                spec.render()
            except Exception as error:  # noqa: BLE001 - one broken tab must not take the UI down
                engine.extensions.report_error(owner, f"tab {spec.title}: {type(error).__name__}: {error}")
                gr.HTML(f'<div class="message error">Extension {owner} failed to build this tab: {error}</div>')


def build_app(engine: Engine, flags, credentials=None, restart=None):
    from fastapi import FastAPI

    from modules.api.auth import Credentials
    from modules.api.security import api_route_matcher, protect_app

    credentials = credentials or Credentials.from_flags(flags)
    app = FastAPI(title="SD Studio", docs_url="/docs" if flags.api else None, redoc_url=None)
    if flags.api:
        from modules.api.routes import register_api

        register_api(app, engine)
    core_routes = list(app.router.routes)
    engine.extensions.call("app_started", app=app, engine=engine)
    if not flags.api:
        # Extension routes (/rembg, /sdapi/v1/loras ...) follow --api like the core API. The hook
        # still runs: an extension may do more there than add routes.
        app.router.routes[:] = core_routes
    api_routes = list(app.router.routes)
    max_body_bytes = flags.max_body_size * 1024 * 1024
    if not flags.nowebui:
        import gradio as gr

        from modules.attention import backend_for
        from webui.page_additions import add_notification_route, user_css, with_api_footer
        from webui.ui_config import apply_ui_config, ui_config_path

        blocks = build_blocks(engine, restart)
        # Before mounting: Gradio builds the page's config from the components' attributes then.
        apply_ui_config(blocks, ui_config_path(engine.paths.data_dir))
        add_notification_route(app, engine.paths.data_dir)
        # Gradio accepts a file an event's input names only if it is one of its uploads, but checks
        # that only once the Blocks "has launched", which a mounted one never does: without this, a
        # client could have any image file on disk read in as an upload.
        blocks.has_launched = True
        app = gr.mount_gradio_app(
            app,
            blocks,
            path="/",
            css=page_style() + "\n" + user_css(engine.paths.data_dir),
            js=with_api_footer(page_script(), attention=backend_for(flags).describe(), api=flags.api),
            footer_links=[],  # Gradio's "Use via API" opens its own panel: ours links the REST docs
            server_name=flags.server_name,
            server_port=flags.port,
            ssr_mode=False,
            max_file_size=max_body_bytes,
        )
    is_api_request = (lambda scope: True) if flags.nowebui else api_route_matcher(api_routes)
    protect_app(app, flags, credentials, is_api_request)
    return app


def startup_refusal(argv: Sequence[str] | None):
    """(reason, None) when the server must not start as asked, else (None, credentials). Checked
    before the engine loads, so a refusal costs no start-up time."""
    from modules.api.auth import AuthConfigError, Credentials, listen_refusal
    from modules.api.origins import CorsOrigins
    from modules.config.flags import parse_known_flags

    flags = parse_known_flags(argv)
    try:
        credentials = Credentials.from_flags(flags)
        CorsOrigins.from_flags(flags)
    except AuthConfigError as error:
        return f"Refusing to start: {error}", None
    except re.error as error:
        return f"Refusing to start: --cors-allow-origins-regex is not a regular expression: {error}", None
    return listen_refusal(flags, credentials), credentials


def configure_environment(engine: Engine) -> None:
    # Offline and private: no hub lookups, no analytics; Gradio's temp files stay in the data dir.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(engine.paths.gradio_temp_dir))
    engine.paths.gradio_temp_dir.mkdir(parents=True, exist_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    started = float(os.environ.get("SDSTUDIO_LAUNCH_T0", time.time()))
    refused, credentials = startup_refusal(argv)
    if refused:
        print(refused, file=sys.stderr, flush=True)
        return 2
    try:
        engine = Engine.from_argv(argv)
    except SettingsFileError as error:  # the file and what to do, not a traceback
        print(f"Cannot start: {error}", file=sys.stderr, flush=True)
        return 1
    flags = engine.flags
    for problem in engine.settings.problems():
        print(f"Settings: {problem}", file=sys.stderr, flush=True)
    _report_extension_problems(engine)
    configure_environment(engine)
    from webui.restart import ServerRestart

    restart = ServerRestart(flags)
    app = build_app(engine, flags, credentials, restart)
    print(credentials.describe(), flush=True)
    if not credentials.enabled and listens_beyond_localhost(flags):
        print(f"Warning: listening on {flags.server_name} with no login (--insecure)", file=sys.stderr, flush=True)

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=flags.server_name, port=flags.port, log_level="warning"))
    restart.attach(server)
    threading.Thread(target=_announce_when_ready, args=(server, engine, flags, started), daemon=True).start()
    server.run()
    engine.queue.shutdown()
    restart.exec_if_requested()
    return 0


def _report_extension_problems(engine: Engine) -> None:
    for ext in engine.extensions.extensions:
        for error in ext.errors:
            print(f"Extension {ext.name}: {error}", file=sys.stderr, flush=True)


def _warm_token_counter(engine: Engine) -> None:
    try:
        engine.tokens.count("")
    except Exception as error:  # noqa: BLE001 - the counter reports its own errors when typed into
        print(f"Warning: token counter: {error}", file=sys.stderr, flush=True)


def _announce_when_ready(server, engine: Engine, flags, started: float) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    host = "127.0.0.1" if flags.server_name in ("0.0.0.0", "::") else flags.server_name
    url = f"http://{host}:{flags.port}"
    print(f"Running on local URL:  {url}" + (" (API only)" if flags.nowebui else ""), flush=True)
    print(f"Startup time: {time.time() - started:.1f}s (ready)", flush=True)
    # The token counters' tokenizer, read now the page is up rather than on the first keystroke
    # (kept off start-up: loading it before the page delayed it by about a second).
    threading.Thread(target=_warm_token_counter, args=(engine,), daemon=True).start()
    if flags.no_model_preload:
        return
    try:
        preload = engine.preload()
    except LookupError as error:
        print(f"Warning: {error}", file=sys.stderr, flush=True)
        return
    preload.wait()
    if preload.error is not None:  # the page shows it too (engine.model_notice()); the console should
        print(f"Warning: {engine.model_notice() or preload.error}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
