"""One server for the UI and the API: FastAPI with the Gradio Blocks mounted at /."""

import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from modules.config.flags import parse_flags
from modules.engine import Engine

STATIC_DIR = Path(__file__).resolve().parent / "static"


def build_blocks(engine: Engine):
    import gradio as gr

    from webui.components.checkpoint import build_checkpoint_row
    from webui.tabs.txt2img import build_txt2img_tab

    with gr.Blocks(title="SD Studio", analytics_enabled=False) as blocks:
        checkpoint = build_checkpoint_row(engine)
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                build_txt2img_tab(engine, checkpoint.dropdown)
        # Each page load shows the checkpoints on disk now, with hashes known since start-up.
        blocks.load(checkpoint.refresh, outputs=[checkpoint.dropdown, checkpoint.message])
    return blocks


def build_app(engine: Engine, flags):
    from fastapi import FastAPI

    app = FastAPI(title="SD Studio", docs_url="/docs" if flags.api else None, redoc_url=None)
    if flags.api:
        from modules.api.routes import register_api

        register_api(app, engine)
    if not flags.nowebui:
        import gradio as gr

        app = gr.mount_gradio_app(
            app,
            build_blocks(engine),
            path="/",
            css=(STATIC_DIR / "style.css").read_text(encoding="utf-8"),
            footer_links=["api"] if flags.api else [],
            server_name=flags.server_name,
            server_port=flags.port,
            ssr_mode=False,
        )
    return app


def configure_environment(engine: Engine) -> None:
    # Offline and private: no hub lookups, no analytics; Gradio's temp files stay in the data dir.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(engine.paths.gradio_temp_dir))
    engine.paths.gradio_temp_dir.mkdir(parents=True, exist_ok=True)


def main(argv: Sequence[str] | None = None) -> None:
    started = float(os.environ.get("SDSTUDIO_LAUNCH_T0", time.time()))
    flags = parse_flags(argv)
    engine = Engine.from_flags(flags)
    configure_environment(engine)
    app = build_app(engine, flags)

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=flags.server_name, port=flags.port, log_level="warning"))
    threading.Thread(target=_announce_when_ready, args=(server, engine, flags, started), daemon=True).start()
    server.run()
    engine.queue.shutdown()


def _announce_when_ready(server, engine: Engine, flags, started: float) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    host = "127.0.0.1" if flags.server_name in ("0.0.0.0", "::") else flags.server_name
    url = f"http://{host}:{flags.port}"
    print(f"Running on local URL:  {url}" + (" (API only)" if flags.nowebui else ""), flush=True)
    print(f"Startup time: {time.time() - started:.1f}s (ready)", flush=True)
    if flags.no_model_preload:
        return
    try:
        engine.preload()
    except LookupError as error:
        print(f"Warning: {error}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
