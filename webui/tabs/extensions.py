"""The Extensions tab: installed extensions with their status and errors; enable/disable
(applied on restart); install from a git URL or a local folder; update; remove."""

import html

import gradio as gr

from modules.config.flags import listens_beyond_localhost
from modules.engine import Engine
from modules.plugins import installer
from webui.components.progress import message_html

INSECURE_MESSAGE = (
    "Installing, updating and removing extensions is disabled because the server listens beyond localhost "
    "(--listen or --server-name): anyone who can reach it could run code here. Restart with "
    "--enable-insecure-extension-access to allow it."
)


def access_refused(flags) -> str | None:
    if listens_beyond_localhost(flags) and not flags.enable_insecure_extension_access:
        return INSECURE_MESSAGE
    return None


def installed_table(engine: Engine) -> str:
    rows = []
    for ext in engine.extensions.extensions:
        errors = "<br>".join(html.escape(e) for e in ext.errors[-5:])
        rows.append(
            f'<tr class="ext-{ext.status.replace(" ", "-")}"><td>{html.escape(ext.name)}</td>'
            f"<td>{html.escape(ext.version)}</td><td>{'bundled' if ext.bundled else 'user'}</td>"
            f"<td>{html.escape(ext.status)}</td><td>{errors}</td></tr>"
        )
    head = "<tr><th>Extension</th><th>Version</th><th>Origin</th><th>Status</th><th>Errors</th></tr>"
    return f'<table id="extensions_installed">{head}{"".join(rows)}</table>'


def build_extensions_tab(engine: Engine) -> None:
    names = [ext.name for ext in engine.extensions.extensions]
    user_names = [ext.name for ext in engine.extensions.extensions if not ext.bundled]
    refused = access_refused(engine.flags)
    with gr.Tab("Installed", elem_id="extensions_installed_tab"):
        table = gr.HTML(installed_table(engine))
        enabled = gr.CheckboxGroup(
            label="Enabled (applied when the app restarts)",
            choices=names,
            value=[n for n in names if n not in engine.settings.disabled_extensions()],
            elem_id="extensions_enabled",
        )
        with gr.Row():
            apply = gr.Button("Apply (on restart)", variant="primary", elem_id="extensions_apply")
            refresh = gr.Button("Refresh status", elem_id="extensions_refresh")
        with gr.Row():
            target = gr.Dropdown(label="User extension", choices=user_names, value=None, elem_id="extensions_target")
            update = gr.Button("Update (git pull)", elem_id="extensions_update", interactive=refused is None)
            remove = gr.Button("Remove", variant="stop", elem_id="extensions_remove", interactive=refused is None)
        installed_message = gr.HTML(message_html(refused, "info") if refused else "", elem_id="extensions_message")
    with gr.Tab("Install", elem_id="extensions_install_tab"):
        source = gr.Textbox(label="Git URL or local folder", elem_id="extensions_install_url")
        folder_name = gr.Textbox(label="Folder name (optional)", elem_id="extensions_install_name")
        install = gr.Button("Install", variant="primary", elem_id="extensions_install", interactive=refused is None)
        install_message = gr.HTML(message_html(refused, "info") if refused else "", elem_id="extensions_install_result")

    def apply_enabled(chosen):
        disabled = sorted(set(names) - set(chosen or []))
        engine.settings.update({"disabled_extensions": ",".join(disabled)})
        what = f"disabled: {', '.join(disabled)}" if disabled else "all enabled"
        return message_html(f"Saved ({what}). Restart the app to apply.", "info")

    def do_install(url, name):
        if access_refused(engine.flags):
            return message_html(INSECURE_MESSAGE, "error")
        try:
            path = installer.install(url or "", engine.paths.user_extensions_dir, name or "")
        except installer.ExtensionInstallError as error:
            return message_html(str(error), "error")
        return message_html(f"Installed into {path}. Restart the app to load it.", "info")

    def on_user_extension(name, action, done: str):
        """Run `action(ext)` on a chosen user extension, refusing as access and choice require."""
        if access_refused(engine.flags):
            return message_html(INSECURE_MESSAGE, "error")
        ext = engine.extensions.get(name or "")
        if ext is None:
            return message_html("Choose an installed user extension first", "error")
        try:
            outcome = action(ext)
        except (installer.ExtensionInstallError, OSError) as error:
            return message_html(str(error), "error")
        return message_html(done.format(name=ext.name, outcome=outcome), "info")

    def do_update(name):
        return on_user_extension(name, installer.update, "{name}: {outcome}. Restart the app to load the new code.")

    def do_remove(name):
        remove_it = lambda ext: installer.remove(ext, engine.paths.user_extensions_dir)  # noqa: E731
        return on_user_extension(name, remove_it, "Removed {name}. Restart the app to unload it.")

    apply.click(apply_enabled, inputs=enabled, outputs=installed_message, queue=False)
    refresh.click(lambda: installed_table(engine), outputs=table, queue=False)
    update.click(do_update, inputs=target, outputs=installed_message)
    remove.click(do_remove, inputs=target, outputs=installed_message)
    install.click(do_install, inputs=[source, folder_name], outputs=install_message)
