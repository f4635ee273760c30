"""The Extensions tab: installed extensions with their status and errors; enable/disable
(applied on restart); install from a git URL or a local folder; update; remove."""

import html

import gradio as gr

from modules.api.origins import from_own_page
from modules.config.flags import listens_beyond_localhost
from modules.engine import Engine
from modules.plugins import installer
from webui.components.progress import message_html

INSECURE_MESSAGE = (
    "Installing, updating and removing extensions is disabled because the server listens beyond localhost "
    "(--listen or --server-name): anyone who can reach it could run code here. Restart with "
    "--enable-insecure-extension-access to allow it."
)

NOT_CONFIRMED = "Cancelled: nothing was changed (installing, updating and removing need your confirmation)."
FOREIGN_PAGE = "Refused: extensions are installed, updated and removed only from this server's own page."

# The page asks before the server acts; the answer travels as the last input and the server
# refuses without it. (Requests from other pages are refused before that: see change_refused.)
CONFIRM_INSTALL_JS = """(url, name, _confirmed) => [url, name, confirm(
  `Install the extension from ${url || '(no source given)'}?\n\nIts code will run with your permissions ` +
  `the next time the app starts. Install only extensions you trust.`)]"""
CONFIRM_UPDATE_JS = """(name, _confirmed) => [name, confirm(
  `Update the extension ${name || '(none chosen)'} with git pull?\n\nThe new code will run the next time ` +
  `the app starts.`)]"""
CONFIRM_REMOVE_JS = """(name, _confirmed) => [name, confirm(
  `Remove the extension ${name || '(none chosen)'} and delete its folder?`)]"""


def access_refused(flags) -> str | None:
    if listens_beyond_localhost(flags) and not flags.enable_insecure_extension_access:
        return INSECURE_MESSAGE
    return None


def change_refused(flags, confirmed, request) -> str | None:
    """Why an install, update or remove must not happen, or None: access as the flags allow,
    a request from our own page (not merely a CORS-allowed one), and the page's confirmation."""
    refused = access_refused(flags)
    if refused:
        return refused
    if request is not None and not from_own_page(request.headers):
        return FOREIGN_PAGE
    if confirmed is not True:
        return NOT_CONFIRMED
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
    # Carries the answer of the page's confirm() dialog to the server (see CONFIRM_*_JS).
    confirmed = gr.Checkbox(value=False, visible=False, elem_id="extensions_confirmed")

    def apply_enabled(chosen):
        disabled = sorted(set(names) - set(chosen or []))
        engine.settings.update({"disabled_extensions": ",".join(disabled)})
        what = f"disabled: {', '.join(disabled)}" if disabled else "all enabled"
        return message_html(f"Saved ({what}). Restart the app to apply.", "info")

    def do_install(url, name, confirmed, request: gr.Request):
        refused = change_refused(engine.flags, confirmed, request)
        if refused:
            return message_html(refused, "error")
        try:
            path = installer.install(url or "", engine.paths.user_extensions_dir, name or "")
        except installer.ExtensionInstallError as error:
            return message_html(str(error), "error")
        return message_html(f"Installed into {path}. Restart the app to load it.", "info")

    def on_user_extension(name, confirmed, request, action, done: str):
        """Run `action(ext)` on a chosen user extension, refusing as access and choice require."""
        refused = change_refused(engine.flags, confirmed, request)
        if refused:
            return message_html(refused, "error")
        ext = engine.extensions.get(name or "")
        if ext is None:
            return message_html("Choose an installed user extension first", "error")
        try:
            outcome = action(ext)
        except (installer.ExtensionInstallError, OSError) as error:
            return message_html(str(error), "error")
        return message_html(done.format(name=ext.name, outcome=outcome), "info")

    def do_update(name, confirmed, request: gr.Request):
        done = "{name}: {outcome}. Restart the app to load the new code."
        return on_user_extension(name, confirmed, request, installer.update, done)

    def do_remove(name, confirmed, request: gr.Request):
        remove_it = lambda ext: installer.remove(ext, engine.paths.user_extensions_dir)  # noqa: E731
        return on_user_extension(name, confirmed, request, remove_it, "Removed {name}. Restart the app to unload it.")

    apply.click(apply_enabled, inputs=enabled, outputs=installed_message, queue=False)
    refresh.click(lambda: installed_table(engine), outputs=table, queue=False)
    # Not offered to API clients either: changing extensions is for the person at the page.
    private = {"api_visibility": "private"}
    update.click(do_update, [target, confirmed], installed_message, js=CONFIRM_UPDATE_JS, **private)
    remove.click(do_remove, [target, confirmed], installed_message, js=CONFIRM_REMOVE_JS, **private)
    install.click(do_install, [source, folder_name, confirmed], install_message, js=CONFIRM_INSTALL_JS, **private)
